// The platform API as the page uses it: accounts (login, register, guest), sessions (list, create, join).
// Access tokens are refreshed once on a 401; errors are RFC 9457 problem details, shown by their `detail`.

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export class Api {
  constructor(base = '') {
    this.base = base;
    this.tokens = null; // {access_token, refresh_token}
  }

  async request(method, path, body = undefined, retry = true) {
    const headers = { 'content-type': 'application/json' };
    if (this.tokens) headers.authorization = `Bearer ${this.tokens.access_token}`;
    const r = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (r.status === 401 && retry && this.tokens) {
      await this.refresh();
      return this.request(method, path, body, false);
    }
    const data = r.status === 204 ? null : await r.json().catch(() => null);
    if (!r.ok) throw new ApiError(r.status, (data && (data.detail?.toString() || data.title)) || `HTTP ${r.status}`);
    return data;
  }

  async refresh() {
    const r = await fetch(`${this.base}/v1/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: this.tokens.refresh_token }),
    });
    if (!r.ok) {
      this.tokens = null;
      throw new ApiError(401, 'signed out: log in again');
    }
    this.tokens = await r.json();
  }

  async login(username, password) {
    this.tokens = null;
    this.tokens = await this.request('POST', '/v1/auth/login', { username, password });
  }

  async register(username, password) {
    await this.request('POST', '/v1/auth/register', { username, password });
    await this.login(username, password);
  }

  async guest() {
    this.tokens = null;
    this.tokens = await this.request('POST', '/v1/auth/guest');
  }

  me() {
    return this.request('GET', '/v1/users/me');
  }

  sessions() {
    return this.request('GET', '/v1/sessions?limit=50');
  }

  createSession(name, maxPlayers) {
    return this.request('POST', '/v1/sessions', { name, max_players: maxPlayers });
  }

  join(sessionId) {
    return this.request('POST', `/v1/sessions/${encodeURIComponent(sessionId)}/join`);
  }

  biomes(seed, numBiomes) {
    return this.request('GET', `/v1/world/biomes?seed=${seed}&num_biomes=${numBiomes}`);
  }
}
