import { render } from 'preact';
import { Console } from './shell.tsx';

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<Console />, root);
}
