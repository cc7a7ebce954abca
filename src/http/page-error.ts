/** An error that ends a page request with a status and words for the person. */
export class PageError extends Error {
  readonly status: number;
  readonly heading: string;
  readonly detail: string;

  constructor(status: number, heading: string, detail: string) {
    super(heading);
    this.name = 'PageError';
    this.status = status;
    this.heading = heading;
    this.detail = detail;
  }
}
