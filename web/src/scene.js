// The 3D view of the snowball with three.js: the planet coloured by biome, the static world of Welcome.layout
// (landmarks by kind, collectibles, beacons that light up, hazards), players with their heading, and the cameras
// (first person, third person, spectator follow / orbit). World units are metres; the planet's centre is the
// origin, so a unit position p on the surface is the point p * R and p is also "up" there.
import * as THREE from 'three';

const UP = new THREE.Vector3(0, 1, 0);
const PLAYER_COLOURS = [0xe4572e, 0x29335c, 0xf3a712, 0x669bbc, 0xa8c686, 0x9b5de5, 0xf15bb5, 0x00bbf9, 0x00f5d4, 0xfee440];

const v3 = (a) => new THREE.Vector3(a[0], a[1], a[2]);

/** An object's orientation on the sphere: local +Y along `up` (unit position), local +Z along `fwd` (heading). */
function orient(obj, up, fwd = null) {
  const y = v3(up).normalize();
  let z = fwd ? v3(fwd) : Math.abs(y.x) < 0.9 ? new THREE.Vector3(1, 0, 0) : new THREE.Vector3(0, 0, 1);
  z = z.sub(y.clone().multiplyScalar(z.dot(y))).normalize();
  const x = new THREE.Vector3().crossVectors(y, z);
  obj.quaternion.setFromRotationMatrix(new THREE.Matrix4().makeBasis(x, y, z));
}

function place(obj, unit, radius, lift = 0, fwd = null) {
  obj.position.copy(v3(unit).normalize().multiplyScalar(radius + lift));
  orient(obj, unit, fwd);
}

function skyTexture() {
  const canvas = document.createElement('canvas');
  canvas.width = 2;
  canvas.height = 256;
  const ctx = canvas.getContext('2d');
  const g = ctx.createLinearGradient(0, 0, 0, 256);
  g.addColorStop(0, '#3a7bd5');
  g.addColorStop(0.55, '#9cc9ec');
  g.addColorStop(1, '#e8f4fb');
  ctx.fillStyle = g;
  ctx.fillRect(0, 0, 2, 256);
  const tex = new THREE.CanvasTexture(canvas);
  tex.colorSpace = THREE.SRGBColorSpace;
  return tex;
}

/** A deterministic pseudo-random number in [0, 1) for integer k (decorations must not move between reloads). */
const hash = (k) => {
  const x = Math.sin(k * 12.9898 + 78.233) * 43758.5453;
  return x - Math.floor(x);
};

const lambert = (color, extra = {}) => new THREE.MeshLambertMaterial({ color, flatShading: true, ...extra });

function landmark(kind) {
  const g = new THREE.Group();
  if (kind === 0) {
    // pine
    const trunk = new THREE.Mesh(new THREE.CylinderGeometry(0.25, 0.35, 1.2, 6), lambert(0x6b4226));
    trunk.position.y = 0.6;
    g.add(trunk);
    for (let i = 0; i < 3; i += 1) {
      const cone = new THREE.Mesh(new THREE.ConeGeometry(1.8 - i * 0.45, 2.2, 7), lambert(i === 2 ? 0xf0f4f8 : 0x1f5e3a));
      cone.position.y = 1.8 + i * 1.2;
      g.add(cone);
    }
  } else if (kind === 1) {
    const rock = new THREE.Mesh(new THREE.DodecahedronGeometry(1.6, 0), lambert(0x8a817c));
    rock.scale.set(1.3, 0.8, 1);
    rock.position.y = 0.9;
    g.add(rock);
  } else if (kind === 2) {
    const spire = new THREE.Mesh(new THREE.ConeGeometry(1.1, 7, 5), lambert(0xbfe6ff, { emissive: 0x234a66, transparent: true, opacity: 0.9 }));
    spire.position.y = 3.5;
    g.add(spire);
  } else if (kind === 3) {
    const dome = new THREE.Mesh(new THREE.SphereGeometry(2, 10, 6, 0, Math.PI * 2, 0, Math.PI / 2), lambert(0xf8fbff));
    const door = new THREE.Mesh(new THREE.CylinderGeometry(0.7, 0.7, 1.2, 8, 1, false, 0, Math.PI), lambert(0xdfe9f2));
    door.rotation.x = Math.PI / 2;
    door.position.set(0, 0.4, 1.9);
    g.add(dome, door);
  } else {
    const colours = [0xc0392b, 0xf39c12, 0x27ae60, 0x2980b9];
    colours.forEach((c, i) => {
      const block = new THREE.Mesh(new THREE.BoxGeometry(1, 1.1, 1), lambert(c));
      block.position.y = 0.55 + i * 1.1;
      block.rotation.y = i * 0.4;
      g.add(block);
    });
  }
  return g;
}

function label(text, colour = '#ffffff') {
  const canvas = document.createElement('canvas');
  canvas.width = 128;
  canvas.height = 48;
  const ctx = canvas.getContext('2d');
  ctx.font = 'bold 28px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.lineWidth = 6;
  ctx.strokeStyle = 'rgba(0,0,0,0.65)';
  ctx.strokeText(text, 64, 34);
  ctx.fillStyle = colour;
  ctx.fillText(text, 64, 34);
  const sprite = new THREE.Sprite(new THREE.SpriteMaterial({ map: new THREE.CanvasTexture(canvas) }));
  sprite.scale.set(2.4, 0.9, 1);
  return sprite;
}

function playerModel(id, name = `P${id}`) {
  const colour = PLAYER_COLOURS[id % PLAYER_COLOURS.length];
  const g = new THREE.Group();
  const body = new THREE.Mesh(new THREE.CapsuleGeometry(0.45, 0.8, 4, 10), lambert(colour));
  body.position.y = 0.85;
  const head = new THREE.Mesh(new THREE.SphereGeometry(0.32, 12, 8), lambert(0xffe0bd));
  head.position.y = 1.65;
  const nose = new THREE.Mesh(new THREE.ConeGeometry(0.14, 0.5, 8), lambert(0xff7f11));
  nose.rotation.x = Math.PI / 2; // along +Z: the heading
  nose.position.set(0, 1.65, 0.42);
  const scarf = new THREE.Mesh(new THREE.TorusGeometry(0.38, 0.1, 6, 12), lambert(0xffffff));
  scarf.rotation.x = Math.PI / 2;
  scarf.position.y = 1.32;
  const tag = label(name);
  tag.position.y = 2.5;
  g.add(body, head, nose, scarf, tag);
  return g;
}

export class WorldView {
  constructor(canvas) {
    this.renderer = new THREE.WebGLRenderer({ canvas, antialias: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
    this.scene = new THREE.Scene();
    this.scene.background = skyTexture();
    this.scene.fog = new THREE.Fog(0xcfe6f7, 25, 80);
    this.camera = new THREE.PerspectiveCamera(70, 1, 0.1, 2000);
    this.scene.add(new THREE.HemisphereLight(0xf2f9ff, 0x8da4b8, 2.4));
    this.sun = new THREE.DirectionalLight(0xfff1d6, 2.2);
    this.scene.add(this.sun);
    this.players = new Map(); // id -> model
    this.collectibles = [];
    this.beacons = [];
    this.landmarks = [];
    this.world = null;
    this.resize();
    window.addEventListener('resize', () => this.resize());
  }

  resize() {
    const w = this.renderer.domElement.clientWidth || window.innerWidth;
    const h = this.renderer.domElement.clientHeight || window.innerHeight;
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
  }

  /** Build the static world from a welcome: config, layout, and the biome centres the API gave. */
  build(config, layout, biomes) {
    if (this.world) this.scene.remove(this.world);
    this.players.clear();
    const R = config.radius;
    this.R = R;
    this.config = config;
    const world = new THREE.Group();
    this.world = world;
    this.scene.add(world);
    this.scene.fog.near = Math.min(25, config.render_distance * 0.8);
    this.scene.fog.far = config.render_distance * 2.4 + 20;

    // The planet: an icosphere coloured per vertex by the nearest biome centre, with a little noise for texture.
    const geo = new THREE.IcosahedronGeometry(R, Math.min(60, Math.max(24, Math.round(R / 2.2))));
    const pos = geo.getAttribute('position');
    const colours = new Float32Array(pos.count * 3);
    const centres = biomes ? biomes.centers : [[0, 1, 0]];
    const palette = biomes ? biomes.colours : [[0.93, 0.95, 0.98]];
    const p = new THREE.Vector3();
    for (let i = 0; i < pos.count; i += 1) {
      p.fromBufferAttribute(pos, i).normalize();
      let best = 0;
      let bestDot = -2;
      centres.forEach((c, k) => {
        const d = p.x * c[0] + p.y * c[1] + p.z * c[2];
        if (d > bestDot) {
          bestDot = d;
          best = k;
        }
      });
      const c = palette[best % palette.length];
      const n = 0.82 + 0.1 * Math.sin(p.x * 97.1 + p.y * 41.3) * Math.cos(p.z * 73.7 - p.x * 19.9) + 0.08 * hash(i);
      colours.set([c[0] * n, c[1] * n, c[2] * n], i * 3);
      // a gentle relief (below the surface only, so that feet stay on the simulated ground)
      const bump = 0.12 * (1 + Math.sin(p.x * 31 + p.z * 17) * Math.sin(p.y * 23));
      pos.setXYZ(i, p.x * (R - bump), p.y * (R - bump), p.z * (R - bump));
    }
    geo.setAttribute('color', new THREE.BufferAttribute(colours, 3));
    geo.computeVertexNormals();
    world.add(new THREE.Mesh(geo, new THREE.MeshLambertMaterial({ vertexColors: true, flatShading: true })));

    this.decorate(world, R, centres);
    // Spawn points sit at landmarks: a landmark the camera is inside of is hidden (see render).
    this.landmarks = (layout.landmarks || []).map((unit, i) => {
      const m = landmark((layout.landmark_kinds || [])[i] ?? 0);
      place(m, unit, R, -0.1);
      m.rotateY(i * 1.7);
      world.add(m);
      return m;
    });
    const gem = new THREE.OctahedronGeometry(0.45);
    this.collectibles = (layout.collectibles || []).map((unit) => {
      const m = new THREE.Mesh(gem, lambert(0xffd23f, { emissive: 0x7a5a00 }));
      place(m, unit, R, 0.9);
      world.add(m);
      return { mesh: m, hiddenUntil: 0 };
    });
    this.beacons = (layout.beacons || []).map((unit) => {
      const g = new THREE.Group();
      const base = new THREE.Mesh(new THREE.CylinderGeometry(0.9, 1.2, 0.6, 8), lambert(0x5c6b73));
      base.position.y = 0.3;
      const pillar = new THREE.Mesh(new THREE.CylinderGeometry(0.25, 0.35, 3.2, 8), lambert(0x9db4c0));
      pillar.position.y = 2.1;
      const lamp = new THREE.Mesh(new THREE.SphereGeometry(0.6, 16, 10), new THREE.MeshLambertMaterial({ color: 0x334455, emissive: 0x000000 }));
      lamp.position.y = 4.0;
      const halo = new THREE.Mesh(new THREE.SphereGeometry(1.4, 16, 10), new THREE.MeshBasicMaterial({ color: 0x7df9ff, transparent: true, opacity: 0.0, depthWrite: false }));
      halo.position.y = 4.0;
      g.add(base, pillar, lamp, halo);
      place(g, unit, R, 0);
      world.add(g);
      return { group: g, lamp, halo, litUntil: 0 };
    });
    const hazardRadius = config.hazard_radius ?? 2;
    (layout.hazards || []).forEach((unit) => {
      const g = new THREE.Group();
      const pit = new THREE.Mesh(new THREE.CircleGeometry(hazardRadius, 20), new THREE.MeshBasicMaterial({ color: 0x1b263b }));
      pit.rotation.x = -Math.PI / 2;
      pit.position.y = 0.04;
      const rim = new THREE.Mesh(new THREE.RingGeometry(hazardRadius, hazardRadius + 0.35, 24), new THREE.MeshBasicMaterial({ color: 0xe63946 }));
      rim.rotation.x = -Math.PI / 2;
      rim.position.y = 0.06;
      g.add(pit, rim);
      for (let k = 0; k < 5; k += 1) {
        const spike = new THREE.Mesh(new THREE.ConeGeometry(0.18, 0.9, 5), lambert(0xc1121f));
        const a = (k / 5) * Math.PI * 2;
        spike.position.set(Math.cos(a) * hazardRadius * 0.6, 0.45, Math.sin(a) * hazardRadius * 0.6);
        g.add(spike);
      }
      place(g, unit, R, 0);
      world.add(g);
    });
  }

  /** Small scenery scattered over the planet by biome (instanced: one draw call per kind): tufts in the tundra,
   * saplings in the pine forest, stones in the rocklands, snow mounds elsewhere. Not part of the simulation. */
  decorate(world, R, centres) {
    const count = Math.min(3000, Math.round(4 * Math.PI * R * R * 0.012));
    const kinds = [
      { geo: new THREE.SphereGeometry(0.5, 7, 4, 0, Math.PI * 2, 0, Math.PI / 2), mat: lambert(0xf5f9fc), biomes: [0, 2, 5] },
      { geo: new THREE.ConeGeometry(0.25, 0.6, 4), mat: lambert(0x7d8f5a), biomes: [1] },
      { geo: new THREE.ConeGeometry(0.6, 1.8, 6), mat: lambert(0x245c3c), biomes: [3] },
      { geo: new THREE.DodecahedronGeometry(0.45, 0), mat: lambert(0x756c63), biomes: [4, 1] },
    ];
    const spots = kinds.map(() => []);
    const m = new THREE.Matrix4();
    for (let k = 0; k < count; k += 1) {
      const z = 2 * hash(3 * k) - 1;
      const a = 2 * Math.PI * hash(3 * k + 1);
      const s = Math.sqrt(1 - z * z);
      const p = [s * Math.cos(a), s * Math.sin(a), z];
      let best = 0;
      let bestDot = -2;
      centres.forEach((c, i) => {
        const d = p[0] * c[0] + p[1] * c[1] + p[2] * c[2];
        if (d > bestDot) [bestDot, best] = [d, i];
      });
      const kind = kinds.findIndex((kd) => kd.biomes.includes(best % 6));
      if (kind >= 0) spots[kind].push([p, 0.35 + 0.6 * hash(3 * k + 2)]);
    }
    kinds.forEach((kd, i) => {
      const mesh = new THREE.InstancedMesh(kd.geo, kd.mat, Math.max(1, spots[i].length));
      mesh.count = spots[i].length;
      const o = new THREE.Object3D();
      spots[i].forEach(([p, size], j) => {
        place(o, p, R, -0.05);
        o.rotateY(size * 10);
        o.scale.setScalar(size);
        o.updateMatrix();
        mesh.setMatrixAt(j, m.copy(o.matrix));
      });
      world.add(mesh);
    });
  }

  pickup(index, untilTick) {
    const c = this.collectibles[index];
    if (c) c.hiddenUntil = untilTick;
  }

  light(index, untilTick) {
    const b = this.beacons[index];
    if (b) b.litUntil = untilTick;
  }

  /** Draw one frame. `own`: the own player's predicted state (or null for spectators), `others`: entities. */
  render(tick, own, others, camera, nowS) {
    if (!this.world) return;
    const R = this.R;
    for (const c of this.collectibles) {
      c.mesh.visible = tick >= c.hiddenUntil;
      c.mesh.rotateY(0.03);
    }
    for (const b of this.beacons) {
      const lit = tick < b.litUntil;
      b.lamp.material.emissive.setHex(lit ? 0x7df9ff : 0x000000);
      b.lamp.material.color.setHex(lit ? 0xe0fbff : 0x334455);
      b.halo.material.opacity = lit ? 0.35 + 0.15 * Math.sin(nowS * 6) : 0;
    }
    const seen = new Set();
    const all = own && camera.mode === 'third' ? [...others, { ...own, id: own.id }] : others;
    for (const e of all) {
      seen.add(e.id);
      let m = this.players.get(e.id);
      if (!m) {
        m = playerModel(e.id, own && e.id === own.id && camera.mode === 'third' ? 'You' : `P${e.id}`);
        this.players.set(e.id, m);
        this.world.add(m);
      }
      place(m, e.pos, R, e.height, e.fwd);
    }
    for (const [id, m] of this.players) {
      if (!seen.has(id)) {
        this.world.remove(m);
        this.players.delete(id);
      }
    }
    this.aim(camera, own, nowS);
    for (const m of this.landmarks) m.visible = m.position.distanceTo(this.camera.position) > 2.6;
    this.renderer.render(this.scene, this.camera);
  }

  aim(camera, own, nowS) {
    const R = this.R;
    const eyeH = this.config.eye_height ?? 1.7;
    let up;
    let fwd;
    let base;
    if (camera.mode === 'orbit') {
      up = v3(camera.point).normalize();
      const ref = Math.abs(up.y) < 0.9 ? new THREE.Vector3(0, 1, 0) : new THREE.Vector3(1, 0, 0);
      const east = new THREE.Vector3().crossVectors(ref, up).normalize();
      const north = new THREE.Vector3().crossVectors(up, east);
      const a = camera.yaw + nowS * 0.15;
      fwd = east.clone().multiplyScalar(Math.cos(a)).add(north.clone().multiplyScalar(Math.sin(a)));
      const target = up.clone().multiplyScalar(R);
      this.camera.position.copy(target).addScaledVector(up, 14).addScaledVector(fwd, -22);
      this.camera.up.copy(up);
      this.camera.lookAt(target);
      this.sunFrom(up);
      return;
    }
    if (!own) return;
    up = v3(own.pos).normalize();
    fwd = v3(own.fwd).normalize();
    base = up.clone().multiplyScalar(R + own.height);
    this.camera.up.copy(up);
    if (camera.mode === 'third' || camera.mode === 'follow') {
      this.camera.position.copy(base).addScaledVector(up, 3.2).addScaledVector(fwd, -6);
      this.camera.lookAt(base.clone().addScaledVector(up, 1.4).addScaledVector(fwd, 4));
    } else {
      const eye = base.clone().addScaledVector(up, eyeH);
      this.camera.position.copy(eye);
      this.camera.lookAt(eye.clone().addScaledVector(fwd, 10).addScaledVector(up, -1.2));
    }
    this.sunFrom(up);
  }

  sunFrom(up) {
    // a low sun over the viewer's horizon, so that every place on the planet is lit
    const side = Math.abs(up.y) < 0.9 ? UP : new THREE.Vector3(1, 0, 0);
    this.sun.position.copy(up).multiplyScalar(2).add(side).normalize().multiplyScalar(this.R * 3);
  }
}
