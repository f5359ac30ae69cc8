// An async (promise-returning) Node.js handler in CommonJS.
const crypto = require("crypto");

const INSTANCE_ID = crypto.randomUUID();

exports.handler = async (event, context) => {
  if (event && event.action === "throw") {
    throw new Error(event.message || "node boom");
  }
  return {
    style: "async",
    event,
    instance: INSTANCE_ID,
    requestId: context.awsRequestId,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    logGroupName: context.logGroupName,
    remainingMs: context.getRemainingTimeInMillis(),
    greeting: process.env.GREETING || null,
    region: process.env.AWS_REGION || null,
    nodeVersion: process.version,
  };
};
