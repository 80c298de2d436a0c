/**
 * Transports that carry migrations between hosts: {@link io.livemig.transport.TlsChannel} and
 * {@link io.livemig.transport.TlsChannelListener} over mutually authenticated TLS 1.3 (the JDK's
 * own), and {@link io.livemig.transport.TcpChannel} and
 * {@link io.livemig.transport.TcpChannelListener} over plain TCP, for tests and trusted networks.
 * Both frame messages the same way (docs/protocol.md, "TCP framing"). (The in-memory,
 * shaped channel of the test kit is {@code io.livemig.kit.InMemoryChannel}, in livemig-testkit.)
 */
package io.livemig.transport;
