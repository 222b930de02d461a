/** A camera's health as its source supervisor reports it and the state topic publishes it. */
export interface SourceState {
  state: 'ok' | 'fault';
  /** Why, when in fault (stalled, exited, frozen ...). */
  reason?: string;
}

/** What the camera registry knows of a camera: 'starting' until its first report. */
export type CameraStateName = 'starting' | SourceState['state'];
