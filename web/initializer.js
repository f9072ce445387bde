// Trunk's hook into loading the wasm module: the largest download of the page, so it gets the
// progress bar first. app.js takes the bar over for the bundle and the archive.
export default function initializer() {
  const bar = () => document.getElementById("load-progress");
  const label = () => document.getElementById("load-label");
  return {
    onStart: () => { label().textContent = "Loading the program…"; },
    // `total` is the Content-Length: with a compressed transfer (.br / .gz) it counts the
    // compressed bytes and `current` passes it, so then only the amount loaded is shown.
    onProgress: ({ current, total }) => {
      if (total > 0 && current <= total) {
        bar().value = current / total;
        label().textContent = `Loading the program: ${(current / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
      } else {
        bar().removeAttribute("value");
        label().textContent = `Loading the program: ${(current / 1e6).toFixed(1)} MB`;
      }
    },
    onComplete: () => {},
    onSuccess: () => {},
    onFailure: (error) => {
      label().textContent = "The program could not load.";
      const box = document.getElementById("error");
      box.hidden = false;
      box.textContent = `The program could not load (${error}). Reload the page; if it keeps failing, this browser may be too old for WebAssembly.`;
    },
  };
}
