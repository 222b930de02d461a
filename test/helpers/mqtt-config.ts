import type { MqttConfig } from '../../src/config/types.js';

/** An MQTT section for sinks and edge nodes under test: base topic `inspectd`, fast reconnects, `over` on top. */
export function testMqttConfig(url: string, over: Partial<MqttConfig> = {}): MqttConfig {
  return {
    url,
    baseTopic: 'inspectd',
    detectionsQos: 0,
    protocolVersion: 5,
    publishDetections: true,
    keepaliveSec: 5,
    reconnectMs: 300,
    reconnectMaxMs: 30_000,
    embedded: { host: '127.0.0.1', port: 0 },
    ...over,
  };
}
