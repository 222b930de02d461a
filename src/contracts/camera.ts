/** A camera's health as its source supervisor reports it and the state topic publishes it. */
export interface SourceState {
  /**
   * ok: frames flow; fault: the source failed or reports a lasting problem (reason says which);
   * ended: a finite input (a video file with loop: false) played to its end and is not restarted.
   */
  state: 'ok' | 'fault' | 'ended';
  /** Why, when in fault (stalled, exited, frozen ...); what ended, when ended. */
  reason?: string;
}

/** What the camera registry knows of a camera: 'starting' until its first report. */
export type CameraStateName = 'starting' | SourceState['state'];
