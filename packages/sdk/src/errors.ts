/** The error every failed call throws: the server's catalog code, HTTP status and message. */
export class NlTradeError extends Error {
  readonly code: string;
  readonly httpStatus: number;
  constructor(code: string, httpStatus: number, message: string) {
    super(message);
    this.name = 'NlTradeError';
    this.code = code;
    this.httpStatus = httpStatus;
  }
}
