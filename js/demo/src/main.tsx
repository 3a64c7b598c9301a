import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import "./commits";
import "./styles.css";

declare global {
  interface Window {
    /** Test hook: unmount the app (the hook must abort its stream). Returns performance.now(). */
    __agentStreamUnmount?: () => number;
  }
}

const container = document.getElementById("root");
if (container === null) throw new Error("index.html lacks #root");
const root = createRoot(container);
root.render(
  <StrictMode>
    <App />
  </StrictMode>,
);
window.__agentStreamUnmount = () => {
  root.unmount();
  return performance.now();
};
