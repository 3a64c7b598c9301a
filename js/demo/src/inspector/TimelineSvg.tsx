/**
 * The live run's timeline, drawn like one run of `agent-stream report`
 * (src/agent_stream/recording/html_report.py `timeline_svg`): the same geometry, the same class
 * names and the same stylesheet (recording/timeline.css), so a run looks the same live and in a
 * report. Times are arrival times in the browser, from the moment the run began.
 */
import type { RunTimeline, ToolSpan } from "./run-log";

const WIDTH = 880;
const LEFT = 110;
const PLOT = WIDTH - LEFT - 20;
const RATE_BUCKETS = 60;
const ROW = 18;

export function formatMs(value: number | null): string {
  if (value === null) return "-";
  return value >= 10_000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value).toLocaleString("en")} ms`;
}

function toolLabel(tool: ToolSpan): string {
  return tool.latencyMs === null ? `${tool.toolName} running` : `${tool.toolName} ${formatMs(tool.latencyMs)}`;
}

/** A row per call: a call (its bar and the label after it) takes the first row free when it starts. */
export function toolLanes(tools: readonly ToolSpan[], spanMs: number): number[] {
  const msPerPx = spanMs / PLOT;
  const ends: number[] = [];
  return tools.map((tool) => {
    const labelPx = 6.5 * (toolLabel(tool).length + 2);
    const stop = Math.max(tool.endMs ?? spanMs, tool.startMs + 2 * msPerPx) + labelPx * msPerPx;
    const free = ends.findIndex((end) => end <= tool.startMs);
    const lane = free === -1 ? ends.length : free;
    ends[lane] = stop;
    return lane;
  });
}

/** The token rate as a line over RATE_BUCKETS slices of the axis, scaled to its peak. */
function rateLine(tokenTimesMs: readonly number[], spanMs: number, top: number, height: number) {
  if (tokenTimesMs.length === 0) return null;
  const width = spanMs / RATE_BUCKETS;
  const counts = new Array<number>(RATE_BUCKETS).fill(0);
  for (const t of tokenTimesMs) counts[Math.min(RATE_BUCKETS - 1, Math.floor(t / width))]! += 1;
  const peak = Math.max(...counts);
  const points = counts
    .map((count, i) => `${(LEFT + (PLOT * (i + 0.5)) / RATE_BUCKETS).toFixed(1)},${(top + height - (height * count) / peak).toFixed(1)}`)
    .join(" ");
  return (
    <polyline className="token-rate" points={points}>
      <title>{`peak ${Math.round((peak * 1000) / width).toLocaleString("en")} tokens/s`}</title>
    </polyline>
  );
}

export function TimelineSvg({ timeline }: { timeline: RunTimeline }) {
  const { tools, turns, errors, resumes, end } = timeline;
  const spanMs = Math.max(timeline.nowMs, end?.atMs ?? 0, 1);
  const x = (t: number) => LEFT + (PLOT * Math.max(0, t)) / spanMs;
  const lanes = toolLanes(tools, spanMs);
  const toolRows = Math.max(-1, ...lanes) + 1;
  const toolsTop = 22;
  const rateTop = 30 + ROW * toolRows;
  const rateHeight = 40;
  const height = rateTop + rateHeight + 34;

  return (
    <svg
      className="timeline"
      viewBox={`0 0 ${WIDTH} ${height}`}
      width="100%"
      role="img"
      aria-label="timeline of the live run"
      data-testid="inspector-timeline"
    >
      <text x={0} y={toolsTop + 12}>
        tools
      </text>
      <text x={0} y={Math.round(rateTop + rateHeight / 2 + 4)}>
        tokens/s
      </text>
      {turns.map((turn) => (
        <g key={`turn-${turn.atMs}-${turn.label}`}>
          <line className="turn" x1={x(turn.atMs)} y1={4} x2={x(turn.atMs)} y2={height - 24}>
            <title>{`${turn.label} at ${formatMs(turn.atMs)}`}</title>
          </line>
          <text x={x(turn.atMs) + 3} y={14}>
            {turn.label}
          </text>
        </g>
      ))}
      {tools.map((tool, i) => {
        const stop = tool.endMs ?? spanMs;
        const kind = tool.endMs === null ? "open" : tool.status === "error" ? "failed" : "done";
        const y = toolsTop + ROW * (lanes[i] ?? 0);
        const w = Math.max(x(stop) - x(tool.startMs), 2);
        const label = toolLabel(tool);
        return (
          <g key={`${tool.toolUseId}-${i}`}>
            <rect className={`tool-bar ${kind}`} x={x(tool.startMs)} y={y} width={w} height={14} rx={2} data-tool-name={tool.toolName}>
              <title>{`${label} (${tool.status})`}</title>
            </rect>
            <text x={x(tool.startMs) + w + 3} y={y + 11}>
              {label}
            </text>
          </g>
        );
      })}
      {rateLine(timeline.tokenTimesMs, spanMs, rateTop, rateHeight)}
      {errors.map((error, i) => (
        <circle key={`error-${i}`} className="error-mark" cx={x(error.atMs)} cy={rateTop - 6} r={5}>
          <title>{`error ${error.label}`}</title>
        </circle>
      ))}
      {resumes.map((resume, i) => {
        const cx = x(resume.atMs);
        const cy = rateTop + rateHeight + 6;
        return (
          <rect key={`resume-${i}`} className="resume-mark" x={cx - 4} y={cy - 4} width={8} height={8} transform={`rotate(45 ${cx} ${cy})`}>
            <title>{`${resume.label} at ${formatMs(resume.atMs)}`}</title>
          </rect>
        );
      })}
      {end !== null ? (
        <g data-testid="inspector-end">
          <line className={`end-mark${end.synthetic ? " synthetic" : ""}`} x1={x(end.atMs)} y1={4} x2={x(end.atMs)} y2={height - 24}>
            <title>{`done: ${end.reason}${end.synthetic ? " (synthetic)" : ""}`}</title>
          </line>
          {/* near the right edge the label sits left of its line */}
          <text x={x(end.atMs) > WIDTH - 160 ? x(end.atMs) - 4 : x(end.atMs) + 3} y={height - 28} textAnchor={x(end.atMs) > WIDTH - 160 ? "end" : "start"}>
            {end.synthetic ? `${end.reason} (synthetic)` : end.reason}
          </text>
        </g>
      ) : null}
      <text x={LEFT} y={height - 6}>
        0
      </text>
      <text x={LEFT + PLOT} y={height - 6} textAnchor="end">
        {formatMs(spanMs)}
      </text>
    </svg>
  );
}
