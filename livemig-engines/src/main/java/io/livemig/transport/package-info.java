/**
 * Transports: {@link io.livemig.transport.TcpChannel} and
 * {@link io.livemig.transport.TcpChannelListener} carry migrations between hosts. (The in-memory,
 * shaped channel of the test kit is {@link io.livemig.kit.InMemoryChannel}.)
 */
package io.livemig.transport;
