// The web page's script, bundled by esbuild: classifies with the model served next to the page.
import { classifyAll } from './classify.js';

classifyAll(new URL('model.bsw', location.href)).then(
  (result) => { window.packagingResult = result; document.title = 'done'; },
  (e) => { window.packagingError = String(e?.stack ?? e); document.title = 'failed'; },
);
