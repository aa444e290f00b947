// Entry point of the page (bundled by scripts/bundle.mjs into dist/web/app.js).
import { render } from 'preact';
import { App } from './app.js';

render(<App />, document.getElementById('app')!);
