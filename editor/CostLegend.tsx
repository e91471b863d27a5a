/** The cost overlay's legend over the canvas (what the colours mean and their range), and the inspector's cost numbers. */
import type { NodeInfo } from '../graph/analyze';
import { blockCost } from '../graph/compare';
import { formatCost, type GroupCost, type Legend } from './costOverlay';

export function CostLegend({ legend }: { legend: Legend }) {
  return (
    <div className="cost-legend" data-testid="cost-legend" role="note">
      <div className="cost-legend-title">{legend.title}</div>
      {legend.empty ? (
        <div className="muted small" data-testid="cost-legend-empty">
          {legend.empty}
        </div>
      ) : (
        <>
          <div className="cost-legend-bar" style={{ background: legend.gradient }} />
          <div className="cost-legend-range">
            <span data-testid="cost-legend-min">{legend.min}</span>
            <span data-testid="cost-legend-max">{legend.max}</span>
          </div>
          <div className="muted small" data-testid="cost-legend-groups">
            {legend.groups}
          </div>
        </>
      )}
    </div>
  );
}

/** The inspector's cost numbers for the selected block: parameters, FLOPs, output bytes at batch 1, and its last measured time. */
export function BlockCostFacts({ info, ms }: { info: NodeInfo; ms?: number | undefined }) {
  const c = blockCost(info);
  return (
    <div className="inspector-facts" data-testid="inspector-cost">
      <div>
        <span>Parameters</span>
        <b data-testid="inspector-cost-params">{c.parameters.toLocaleString('en-US')}</b>
      </div>
      <div>
        <span>FLOPs / sample</span>
        <b data-testid="inspector-cost-flops" title={`${c.flops.toLocaleString('en-US')} FLOP`}>
          {formatCost('flops', c.flops)}
        </b>
      </div>
      <div>
        <span>Output (batch 1)</span>
        <b data-testid="inspector-cost-bytes">{formatCost('activation', c.outputBytes)}</b>
      </div>
      {ms !== undefined && (
        <div>
          <span>Last measured</span>
          <b data-testid="inspector-cost-ms">{formatCost('time', ms)}</b>
        </div>
      )}
    </div>
  );
}

/**
 * The inspector's cost numbers for a selected group, as the canvas colours it collapsed: parameters
 * and FLOPs summed over its blocks, the largest block output at batch 1, and the sum of its blocks'
 * last measured times (with how many were measured).
 */
export function GroupCostFacts({ cost }: { cost: GroupCost }) {
  return (
    <div className="inspector-facts" data-testid="inspector-group-cost">
      <div>
        <span>Parameters (sum)</span>
        <b data-testid="inspector-group-cost-params">{cost.parameters.toLocaleString('en-US')}</b>
      </div>
      <div>
        <span>FLOPs / sample (sum)</span>
        <b data-testid="inspector-group-cost-flops" title={`${cost.flops.toLocaleString('en-US')} FLOP`}>
          {formatCost('flops', cost.flops)}
        </b>
      </div>
      <div>
        <span>Largest block output (batch 1)</span>
        <b data-testid="inspector-group-cost-bytes">{formatCost('activation', cost.largestOutputBytes)}</b>
      </div>
      {cost.ms !== undefined && (
        <div>
          <span>Last measured (sum)</span>
          <b data-testid="inspector-group-cost-ms" title={`${cost.measured} of ${cost.blocks} blocks measured`}>
            {formatCost('time', cost.ms)}
            {cost.measured < cost.blocks ? ` (${cost.measured} of ${cost.blocks} blocks)` : ''}
          </b>
        </div>
      )}
    </div>
  );
}
