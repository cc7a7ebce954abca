/**
 * A minimal browser for HTTP-level tests: a cookie jar and redirects followed by hand, stopping
 * at the client's redirect URI (which, like a real RP callback, is not fetched).
 */
export type Page = { status: number; url: string; html: string; location: string | null };

export class Agent {
  readonly cookies = new Map<string, string>();
  readonly stopAt: string;
  /** Sent with every request, e.g. `x-forwarded-for` to stand for a client IP behind TRUST_PROXY. */
  readonly headers: Record<string, string> = {};
  /** Every Set-Cookie header received, to check a cookie's attributes. */
  readonly setCookies: string[] = [];

  constructor(stopAt: string) {
    this.stopAt = stopAt;
  }

  async get(url: string): Promise<Page> {
    return this.send(url, { method: 'GET' });
  }

  async post(url: string, form: Record<string, string>): Promise<Page> {
    return this.send(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
  }

  /** Follows redirects from `page` until a page is shown or the client's redirect URI is reached. */
  async follow(page: Page): Promise<Page> {
    let current = page;
    for (let hops = 0; current.location && hops < 20; hops += 1) {
      if (current.location.startsWith(this.stopAt)) return current;
      current = await this.get(current.location);
    }
    return current;
  }

  async send(url: string, init: RequestInit): Promise<Page> {
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...this.headers, ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) },
    });
    for (const header of response.headers.getSetCookie()) {
      this.setCookies.push(header);
      this.store(header);
    }
    const location = response.headers.get('location');
    return {
      status: response.status,
      url,
      html: await response.text(),
      location: location ? new URL(location, url).toString() : null,
    };
  }

  protected store(header: string) {
    const [pair, ...attributes] = header.split(';');
    const index = pair!.indexOf('=');
    const name = pair!.slice(0, index).trim();
    const value = pair!.slice(index + 1).trim();
    const expired = attributes.some((attribute) => {
      const [key, val] = attribute.trim().split('=');
      if (key?.toLowerCase() === 'max-age') return Number(val) <= 0;
      if (key?.toLowerCase() === 'expires') return new Date(val ?? '').getTime() < Date.now();
      return false;
    });
    if (expired || value === '') this.cookies.delete(name);
    else this.cookies.set(name, value);
  }
}

export function formField(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`No field ${name} in page:\n${html}`);
  return decodeAttribute(match[1]!);
}

/** Handlebars escapes =, &, quotes and angle brackets in attributes; undo that. */
export function decodeAttribute(value: string): string {
  return value
    .replace(/&#x3D;/g, '=')
    .replace(/&#x27;/g, "'")
    .replace(/&#x60;/g, '`')
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The QR code image's data URL on an enrolment page. */
export function qrImage(html: string): string {
  const match = /<img class="qr" src="([^"]+)"/.exec(html);
  if (!match) throw new Error(`No QR code on page:\n${html}`);
  return decodeAttribute(match[1]!);
}

export function formAction(html: string): string {
  const match = /<form method="post" action="([^"]+)"/.exec(html);
  if (!match) throw new Error(`No form in page:\n${html}`);
  return decodeAttribute(match[1]!);
}

/** The text a person reads, without markup, entities decoded. */
export function visibleText(html: string): string {
  return html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&#x27;|&#39;/g, "'")
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}
