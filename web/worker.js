// The engine's host: loads the wasm module the page chose (web/gpu or web/cpu) and answers the
// page's calls to its Engine and Archive objects by message, so that inference and the search
// over a million codes run off the page's main thread and the page keeps answering input.
//
// The same file also runs inside the page, where no worker can start (a single file opened
// from file://): app.js then calls `answer` directly, through the same interface.
//
// Messages: {id, op: "init", args: [glue URL, wasm bytes]}; {id, op: "call", target, method,
// args}, where target is "Engine" or "Archive" (their static functions) or a handle; {id, op:
// "free", target}. Objects the module returns travel as {__handle}; arguments of that
// shape are turned back into the objects. Replies: {id, result} or {id, error, trap}, `trap`
// telling a wasm trap (the module is then unusable) from an ordinary error.

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

export async function answer({ op, target, method, args = [] }) {
  switch (op) {
    case "init":
      glue = await import(args[0]);
      await glue.default({ module_or_path: args[1] });
      return true;
    case "call": {
      const self = typeof target === "string" ? glue && glue[target] : objects.get(target);
      if (!self || typeof self[method] !== "function") throw new Error(`the engine has no ${target}.${method}`);
      return wrap(await self[method](...args.map(unwrap)));
    }
    case "free":
      objects.get(target)?.free();
      objects.delete(target);
      return true;
    default:
      throw new Error(`unknown engine call ${op}`);
  }
}

export const reply = (id, e) => ({ id, error: String((e && e.message) || e), trap: e instanceof WebAssembly.RuntimeError });

if (typeof WorkerGlobalScope !== "undefined" && globalThis instanceof WorkerGlobalScope) {
  onmessage = async ({ data }) => {
    try {
      postMessage({ id: data.id, result: await answer(data) });
    } catch (e) {
      postMessage(reply(data.id, e));
    }
  };
}
