// A callback-style Node.js handler: answers through callback(err, result).
exports.handler = (event, context, callback) => {
  setTimeout(() => {
    if (event && event.action === "fail") {
      callback(new Error(event.message || "callback failed"));
      return;
    }
    callback(null, { style: "callback", event, requestId: context.awsRequestId });
  }, 10);
};
