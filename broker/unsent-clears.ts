type Clearable = { outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<unknown> }

/**
 * Makes clearing a message id that was never assigned a no-op. When the
 * forward hook refuses a live delivery to a persistent session, Aedes 1.2
 * clears the refused packet from the session's queue by its message id
 * (lib/client.js, `deliverQoS`), but a packet never sent has none: Aedes's
 * in-memory persistence then removes the first queued message that has no id
 * yet, a different message, not yet delivered, which is lost. A PUBACK
 * always carries an id ([MQTT-2.3.1-1]), so nothing legitimate is skipped.
 */
export function ignoreUnsentClears<P extends Clearable>(persistence: P): P {
  const clear = persistence.outgoingClearMessageId.bind(persistence)
  persistence.outgoingClearMessageId = async (client, packet) => (packet.messageId === undefined ? undefined : clear(client, packet))
  return persistence
}
