/**
 * Minimum-cost assignment (Hungarian method, shortest augmenting paths with potentials, O(n² m)): which
 * track takes which detection so the total 1 − IoU is least. ByteTrack solves the same problem with lapjv;
 * a conveyor has tens of tracks, where this is a few microseconds.
 */

/** Cost of a pair that must not be matched (below IoU threshold). */
const FORBIDDEN = 1e9;

/**
 * Pairs (row, column) of a minimum-cost matching of `cost` (rows × columns, any shape), keeping only pairs
 * whose cost is at most `maxCost`. Deterministic: ties go to the lower index.
 */
export function assign(cost: readonly (readonly number[])[], maxCost: number): Array<[number, number]> {
  const rows = cost.length;
  const cols = rows > 0 ? cost[0].length : 0;
  if (rows === 0 || cols === 0) return [];
  const transpose = rows > cols;
  const n = transpose ? cols : rows;
  const m = transpose ? rows : cols;
  const at = (i: number, j: number): number => {
    const c = transpose ? cost[j][i] : cost[i][j];
    return c > maxCost || !Number.isFinite(c) ? FORBIDDEN : c;
  };
  // 1-based arrays as in the textbook formulation; p[j] = row matched to column j (0 = none).
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1);
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = at(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const out: Array<[number, number]> = [];
  for (let j = 1; j <= m; j++) {
    if (p[j] === 0) continue;
    const i = p[j] - 1;
    const jj = j - 1;
    if (at(i, jj) >= FORBIDDEN) continue;
    out.push(transpose ? [jj, i] : [i, jj]);
  }
  out.sort((a, b) => a[0] - b[0]);
  return out;
}
