// The globe inset: the hemisphere around the viewer seen from above (azimuthal projection, heading up), with
// the players near by, landmarks, beacons and hazards, and the viewer's latitude / longitude on the sphere.

export function drawMinimap(canvas, { pos, fwd, others, layout, ownId, radius, renderDistance }) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width;
  const r = w / 2 - 6;
  ctx.clearRect(0, 0, w, w);
  ctx.save();
  ctx.translate(w / 2, w / 2);
  const grad = ctx.createRadialGradient(-r * 0.3, -r * 0.3, r * 0.1, 0, 0, r);
  grad.addColorStop(0, '#f4fbff');
  grad.addColorStop(1, '#7fa7c9');
  ctx.fillStyle = grad;
  ctx.beginPath();
  ctx.arc(0, 0, r, 0, Math.PI * 2);
  ctx.fill();
  ctx.strokeStyle = 'rgba(20,40,70,0.8)';
  ctx.lineWidth = 2;
  ctx.stroke();
  if (!pos) {
    ctx.restore();
    return;
  }
  const right = [fwd[1] * pos[2] - fwd[2] * pos[1], fwd[2] * pos[0] - fwd[0] * pos[2], fwd[0] * pos[1] - fwd[1] * pos[0]];
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  // Azimuthal equidistant around the viewer, out to twice the render distance (at most a hemisphere).
  const view = renderDistance / radius;
  const reach = Math.min(Math.PI / 2, 2 * view);
  const project = (q) => {
    const angle = Math.acos(Math.max(-1, Math.min(1, dot(q, pos))));
    if (angle > reach) return null;
    const x = dot(q, right);
    const y = dot(q, fwd);
    const n = Math.hypot(x, y) || 1;
    return [(x / n) * (angle / reach) * r, (-y / n) * (angle / reach) * r];
  };
  ctx.strokeStyle = 'rgba(19,164,201,0.7)';
  ctx.setLineDash([4, 4]);
  ctx.beginPath();
  ctx.arc(0, 0, (Math.min(view, reach) / reach) * r, 0, Math.PI * 2);
  ctx.stroke();
  ctx.setLineDash([]);
  const dots = (list, colour, size) => {
    ctx.fillStyle = colour;
    for (const q of list || []) {
      const xy = project(q);
      if (!xy) continue;
      ctx.beginPath();
      ctx.arc(xy[0], xy[1], size, 0, Math.PI * 2);
      ctx.fill();
    }
  };
  dots(layout.hazards, '#d62828', 3);
  dots(layout.landmarks, 'rgba(45,106,79,0.7)', 2.5);
  dots(layout.beacons, '#00b4d8', 3.5);
  for (const e of others) {
    const xy = project(e.pos);
    if (!xy) continue;
    ctx.fillStyle = e.id === ownId ? '#ffffff' : '#f77f00';
    ctx.beginPath();
    ctx.arc(xy[0], xy[1], 4, 0, Math.PI * 2);
    ctx.fill();
  }
  // the viewer: an arrow at the centre, heading up
  ctx.fillStyle = '#111';
  ctx.beginPath();
  ctx.moveTo(0, -8);
  ctx.lineTo(5, 6);
  ctx.lineTo(-5, 6);
  ctx.closePath();
  ctx.fill();
  ctx.restore();
  const lat = (Math.asin(Math.max(-1, Math.min(1, pos[2]))) * 180) / Math.PI;
  const lon = (Math.atan2(pos[1], pos[0]) * 180) / Math.PI;
  ctx.fillStyle = 'rgba(11,37,69,0.85)';
  ctx.font = 'bold 11px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.fillText(`${lat.toFixed(1)}° ${lon.toFixed(1)}°`, w / 2, w - 22);
}
