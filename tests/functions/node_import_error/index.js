// Fails while loading: the runtime must report Runtime.ImportModuleError.
require("module-that-does-not-exist-in-gust-tests");

exports.handler = async () => "unreachable";
