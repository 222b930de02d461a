/**
 * A small typed event bus (after Zigbee2MQTT's lib/eventBus.ts): producers emit, observers subscribe in
 * their start() under an owner and drop every listener of that owner in stop(). A listener that throws
 * is reported through onListenerError and never reaches the producer: an observer must not break the
 * pipeline.
 */
type Listener<T> = (data: T) => void;

export class EventBus<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners = new Map<keyof Events, Map<object, Listener<never>[]>>();

  constructor(private readonly onListenerError: (event: string, err: unknown) => void = () => {}) {}

  on<K extends keyof Events>(event: K, owner: object, listener: Listener<Events[K]>): void {
    let byOwner = this.listeners.get(event);
    if (!byOwner) this.listeners.set(event, (byOwner = new Map()));
    const list = byOwner.get(owner) ?? [];
    list.push(listener as Listener<never>);
    byOwner.set(owner, list);
  }

  emit<K extends keyof Events>(event: K, data: Events[K]): void {
    const byOwner = this.listeners.get(event);
    if (!byOwner) return;
    for (const list of byOwner.values()) {
      for (const listener of list) {
        try {
          (listener as Listener<Events[K]>)(data);
        } catch (err) {
          this.onListenerError(String(event), err);
        }
      }
    }
  }

  removeListeners(owner: object): void {
    for (const byOwner of this.listeners.values()) byOwner.delete(owner);
  }

  listenerCount(event: keyof Events): number {
    let n = 0;
    for (const list of this.listeners.get(event)?.values() ?? []) n += list.length;
    return n;
  }
}
