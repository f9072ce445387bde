// A wasm module's host: loads one of the page's modules (web/gpu or web/cpu for the network,
// web/search for the archive) and answers the page's calls to its objects by message, so that
// inference and the search over a million codes run off the page's main thread and the page
// keeps answering input. The page starts one worker per module.
//
// The same file also runs inside the page, where no worker can start (a single file opened
// from file://): app.js then makes a `host()` per module and calls it directly, through the
// same interface.
//
// Messages: {id, op: "init", args: [glue URL, wasm bytes]}; {id, op: "call", target, method,
// args}, where target is the name of an exported class (for its static functions, e.g.
// "Engine", "Catalog") or a handle; {id, op: "free", target}. Objects the module returns travel
// as {__handle}; arguments of that shape are turned back into the objects. Replies: {id,
// result} or {id, error, trap}, `trap` telling a wasm trap (the module is then unusable) from
// an ordinary error.

// One module's state: its glue and the objects handed out by handle.
export function host() {
  let glue = null;
  const objects = new Map();
  let nextHandle = 1;

  const unwrap = (a) => (a && typeof a === "object" && "__handle" in a ? objects.get(a.__handle) : a);

  function wrap(value) {
    if (value && typeof value === "object" && "__wbg_ptr" in value) {
      const handle = nextHandle++;
      objects.set(handle, value);
      return { __handle: handle };
    }
    return value;
  }

  return async function answer({ op, target, method, args = [] }) {
    switch (op) {
      case "init":
        glue = await import(args[0]);
        await glue.default({ module_or_path: args[1] });
        return true;
      case "call": {
        const self = typeof target === "string" ? glue && glue[target] : objects.get(target);
        if (!self || typeof self[method] !== "function") throw new Error(`the module has no ${target}.${method}`);
        return wrap(await self[method](...args.map(unwrap)));
      }
      case "free":
        objects.get(target)?.free();
        objects.delete(target);
        return true;
      default:
        throw new Error(`unknown call ${op}`);
    }
  };
}

export const reply = (id, e) => ({ id, error: String((e && e.message) || e), trap: e instanceof WebAssembly.RuntimeError });

if (typeof WorkerGlobalScope !== "undefined" && globalThis instanceof WorkerGlobalScope) {
  const answer = host();
  onmessage = async ({ data }) => {
    try {
      postMessage({ id: data.id, result: await answer(data) });
    } catch (e) {
      postMessage(reply(data.id, e));
    }
  };
}
