/**
 * One registry of error codes (after fastify's lib/errors.js). Every error the user can meet
 * carries a stable code and a message that says what to do about it.
 */
export const ErrorCodes = {
  CONFIG_INVALID: 'INSPECTD_ERR_CONFIG_INVALID',
  CONFIG_READ: 'INSPECTD_ERR_CONFIG_READ',
  MODEL_NOT_FOUND: 'INSPECTD_ERR_MODEL_NOT_FOUND',
  MODEL_INVALID: 'INSPECTD_ERR_MODEL_INVALID',
  MODEL_LAYOUT: 'INSPECTD_ERR_MODEL_LAYOUT',
  MODEL_LABELS: 'INSPECTD_ERR_MODEL_LABELS',
  IMAGE_UNREADABLE: 'INSPECTD_ERR_IMAGE_UNREADABLE',
  ENGINE_UNAVAILABLE: 'INSPECTD_ERR_ENGINE_UNAVAILABLE',
  ENGINE_RUN: 'INSPECTD_ERR_ENGINE_RUN',
  ENGINE_DISPOSED: 'INSPECTD_ERR_ENGINE_DISPOSED',
  ENGINE_BUSY: 'INSPECTD_ERR_ENGINE_BUSY',
  ENGINE_SHAPE: 'INSPECTD_ERR_ENGINE_SHAPE',
  ENGINE_BUILD: 'INSPECTD_ERR_ENGINE_BUILD',
  NATIVE_MISSING: 'INSPECTD_ERR_NATIVE_MISSING',
  SOURCE_FAILED: 'INSPECTD_ERR_SOURCE_FAILED',
  SOURCE_STALLED: 'INSPECTD_ERR_SOURCE_STALLED',
  OUTBOX_IO: 'INSPECTD_ERR_OUTBOX_IO',
  OUTBOX_FULL: 'INSPECTD_ERR_OUTBOX_FULL',
  /** A state directory (outbox, snapshots) is locked by another running inspectd. */
  LOCKED: 'INSPECTD_ERR_LOCKED',
  MQTT: 'INSPECTD_ERR_MQTT',
  /** A secret or TLS file the config names cannot be read or used: a restart cannot fix it, an edit can. */
  CREDENTIALS: 'INSPECTD_ERR_CREDENTIALS',
  LIFECYCLE: 'INSPECTD_ERR_LIFECYCLE',
  USAGE: 'INSPECTD_ERR_USAGE',
  DATASET: 'INSPECTD_ERR_DATASET',
  /** HTTP inference API: the request is malformed (HTTP 400). */
  API_BAD_REQUEST: 'INSPECTD_ERR_API_BAD_REQUEST',
  /** HTTP inference API: no such model or camera (HTTP 404). */
  API_NOT_FOUND: 'INSPECTD_ERR_API_NOT_FOUND',
  /** HTTP inference API: the image has more pixels than http.api.maxPixels (HTTP 413). */
  API_TOO_LARGE: 'INSPECTD_ERR_API_TOO_LARGE',
  /** HTTP inference API: a body of a content type the route does not take (HTTP 415). */
  API_MEDIA_TYPE: 'INSPECTD_ERR_API_MEDIA_TYPE',
  /** HTTP inference API: the model is not loaded yet, or the daemon is stopping (HTTP 503). */
  API_NOT_READY: 'INSPECTD_ERR_API_NOT_READY',
  /** HTTP inference API: the queue is full or the request waited http.maxQueueMs (HTTP 503 with Retry-After). */
  API_BUSY: 'INSPECTD_ERR_API_BUSY',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class InspectdError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InspectdError';
    this.code = code;
  }
}

export function isInspectdError(err: unknown, code?: ErrorCode): err is InspectdError {
  return err instanceof InspectdError && (code === undefined || err.code === code);
}

/**
 * The inference engine failed, not the frame (its worker died, it is being replaced, none is loaded): a
 * lossless source hands such a frame again rather than counting it as unreadable.
 */
export function isEngineFailure(err: unknown): boolean {
  return isInspectdError(err) && (err.code === ErrorCodes.ENGINE_RUN || err.code === ErrorCodes.ENGINE_DISPOSED || err.code === ErrorCodes.ENGINE_UNAVAILABLE);
}

/** A message safe to log or print for any thrown value. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
