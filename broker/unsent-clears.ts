type Clearable = { outgoingClearMessageId(client: { id: string; connackSent?: boolean }, packet: { messageId?: number }): Promise<unknown> }

/**
 * Keeps a reconnecting session's queue whole until its CONNACK. When the
 * forward hook refuses a live delivery to a persistent session, Aedes 1.2
 * clears the refused packet from the session's queue by its message id
 * (lib/client.js, `deliverQoS`), but a packet never sent has none, and
 * Aedes's in-memory persistence then removes the first queued message that
 * has no id yet: before the CONNACK (when the hook refuses every delivery,
 * see authorize-forward.ts) that is a message the queue is about to deliver,
 * which would be lost. After it, the clear goes through as Aedes meant it, so
 * refused deliveries (a member removed but still subscribed) do not pile up.
 */
export function ignoreUnsentClears<P extends Clearable>(persistence: P): P {
  const clear = persistence.outgoingClearMessageId.bind(persistence)
  persistence.outgoingClearMessageId = async (client, packet) => (packet.messageId === undefined && !client.connackSent ? undefined : clear(client, packet))
  return persistence
}
