package io.livemig.transport;

import io.livemig.channel.MessageTooLargeException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLSocket;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Mutual TLS 1.3 channels: messages both ways, every kind of refusal seen on both sides with a
 * message that says which, and closes and timeouts that unblock whatever waits.
 */
class TlsChannelTest {

    private static final Duration IO = Duration.ofSeconds(5);
    /** A thread per task: the common pool may have one worker on a small machine, and these tasks block. */
    private static final Executor THREADS = task -> Thread.ofPlatform().daemon().start(task);
    private static TestPki pki;
    private static SSLContext serverContext;
    private static SSLContext clientContext;

    @BeforeAll
    static void certificates() throws Exception {
        pki = TestPki.get();
        serverContext = pki.context("server", "ca");
        clientContext = pki.context("client", "ca");
    }

    private static TlsChannelListener listen(SSLContext context, String expectedPeerName, Duration ioTimeout)
            throws IOException {
        return TlsChannelListener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), context,
                expectedPeerName, ioTimeout);
    }

    /** Accepts one connection and receives from it on another thread: the server's side of a handshake. */
    private static CompletableFuture<Received> serveOne(TlsChannelListener listener) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                TlsChannel channel = listener.accept(IO);
                ByteBuffer in = ByteBuffer.allocate(1 << 16);
                try {
                    int n = channel.receive(in);
                    return new Received(channel, n, null);
                } catch (IOException e) {
                    channel.close();
                    return new Received(channel, 0, e);
                }
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, THREADS);
    }

    /** Accepts one connection and runs its handshake on another thread, as a destination does. */
    private static CompletableFuture<TlsChannel> acceptAndHandshake(TlsChannelListener listener) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                TlsChannel channel = listener.accept(IO);
                channel.handshake();
                return channel;
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, THREADS);
    }

    private record Received(TlsChannel channel, int length, IOException failure) {
    }

    @Test
    void messagesArriveWholeInOrderBothWaysAndCloseIsOrderly() throws Exception {
        try (TlsChannelListener listener = listen(serverContext, "source.test", IO)) {
            CompletableFuture<TlsChannel> accepted = acceptAndHandshake(listener);
            try (TlsChannel client = TlsChannel.connect(listener.localAddress(), clientContext, "destination.test",
                    IO, IO); TlsChannel server = accepted.get()) {
                assertTrue(client.peer().contains("CN=destination"), client.peer());
                Random random = new Random(1);
                byte[][] sent = new byte[20][];
                for (int i = 0; i < sent.length; i++) {
                    sent[i] = new byte[1 + random.nextInt(3 << 20)];
                    random.nextBytes(sent[i]);
                }
                CompletableFuture<Void> sender = CompletableFuture.runAsync(() -> {
                    try {
                        for (int i = 0; i < sent.length; i++) {
                            ByteBuffer message = i % 2 == 0 ? ByteBuffer.wrap(sent[i])
                                    : ByteBuffer.allocateDirect(sent[i].length).put(sent[i]).flip();
                            client.send(message);
                            assertEquals(message.limit(), message.position());
                        }
                        client.close();
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                }, THREADS);
                ByteBuffer direct = ByteBuffer.allocateDirect(TcpChannel.DEFAULT_MAX_MESSAGE_BYTES);
                ByteBuffer heap = ByteBuffer.allocate(TcpChannel.DEFAULT_MAX_MESSAGE_BYTES);
                for (int i = 0; i < sent.length; i++) {
                    ByteBuffer in = (i % 3 == 0 ? heap : direct).clear();
                    int n = server.receive(in);
                    byte[] got = new byte[n];
                    in.flip().get(got);
                    assertArrayEquals(sent[i], got, "message " + i);
                }
                assertTrue(server.peer().contains("CN=source"), server.peer());
                assertEquals(-1, server.receive(direct.clear()), "orderly close at a message boundary");
                sender.get();
            }
        }
    }

    @Test
    void bothSidesSendAndReceiveAtOnce() throws Exception {
        try (TlsChannelListener listener = listen(serverContext, null, IO)) {
            CompletableFuture<TlsChannel> accepted = acceptAndHandshake(listener);
            try (TlsChannel client = TlsChannel.connect(listener.localAddress(), clientContext, null, IO, IO);
                 TlsChannel server = accepted.get()) {
                byte[] big = new byte[8 << 20];
                new Random(2).nextBytes(big);
                CompletableFuture<byte[]> up = echoOnce(server, big);
                CompletableFuture<byte[]> down = echoOnce(client, big);
                assertArrayEquals(big, up.get(30, TimeUnit.SECONDS));
                assertArrayEquals(big, down.get(30, TimeUnit.SECONDS));
            }
        }
    }

    /** Sends {@code message} on one thread while receiving one message on another; both directions at once. */
    private static CompletableFuture<byte[]> echoOnce(TlsChannel channel, byte[] message) {
        CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> {
            try {
                channel.send(ByteBuffer.wrap(message));
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        }, THREADS);
        return CompletableFuture.supplyAsync(() -> {
            try {
                ByteBuffer in = ByteBuffer.allocate(TcpChannel.DEFAULT_MAX_MESSAGE_BYTES);
                int n = channel.receive(in);
                sent.get();
                return java.util.Arrays.copyOf(in.array(), n);
            } catch (IOException | InterruptedException | ExecutionException e) {
                throw new RuntimeException(e);
            }
        }, THREADS);
    }

    @Test
    void aClientWithoutACertificateIsRefusedOnBothSides() throws Exception {
        assertRefusedOnBothSides(pki.context(null, "ca"), null, "requires a certificate", "no certificate");
    }

    @Test
    void aClientWithACertificateFromAnotherCaIsRefusedOnBothSides() throws Exception {
        // The server names the CAs it trusts; the JDK's client then presents no certificate at all.
        assertRefusedOnBothSides(pki.context("stranger", "ca"), null, "only one from another CA",
                "presented no certificate");
    }

    @Test
    void aClientThatPresentsAnUntrustedCertificateAnywayIsRefusedOnBothSides() throws Exception {
        assertRefusedOnBothSides(pki.context("stranger", "ca", true), null, "refused this side's certificate",
                "not trusted");
    }

    @Test
    void aClientWhoseCertificateLacksTheExpectedNameIsRefusedOnBothSides() throws Exception {
        // The server's own certificate is trusted, but it names destination.test, not source.test.
        assertRefusedOnBothSides(pki.context("server", "ca"), "source.test",
                "does not carry the name the peer expects", "does not name 'source.test'");
    }

    @Test
    void aServerWhoseCertificateLacksTheExpectedNameIsRefusedByTheClient() throws Exception {
        try (TlsChannelListener listener = listen(serverContext, null, IO)) {
            CompletableFuture<Received> server = serveOne(listener);
            IOException e = assertThrows(IOException.class,
                    () -> TlsChannel.connect(listener.localAddress(), clientContext, "other.test", IO, IO));
            assertTrue(e.getMessage().contains("does not name 'other.test'")
                    && e.getMessage().contains("DNS:destination.test"), e.getMessage());
            Received r = server.get(10, TimeUnit.SECONDS);
            assertTrue(r.failure() != null && r.failure().getMessage().contains("does not carry the name"),
                    String.valueOf(r.failure()));
        }
    }

    @Test
    void aClientThatDoesNotTrustTheServerRefusesIt() throws Exception {
        try (TlsChannelListener listener = listen(serverContext, null, IO)) {
            CompletableFuture<Received> server = serveOne(listener);
            IOException e = assertThrows(IOException.class, () -> TlsChannel.connect(listener.localAddress(),
                    pki.context("client", "other-ca"), null, IO, IO));
            assertTrue(e.getMessage().contains("not trusted"), e.getMessage());
            assertInstanceOf(IOException.class, server.get(10, TimeUnit.SECONDS).failure());
        }
    }

    private static void assertRefusedOnBothSides(SSLContext client, String serverExpects, String clientSays,
                                                 String serverSays) throws Exception {
        try (TlsChannelListener listener = listen(serverContext, serverExpects, IO)) {
            CompletableFuture<Received> server = serveOne(listener);
            IOException e = assertThrows(IOException.class,
                    () -> TlsChannel.connect(listener.localAddress(), client, null, IO, IO));
            assertTrue(e.getMessage().startsWith("TLS handshake with ") && e.getMessage().contains(clientSays),
                    e.getMessage());
            Received r = server.get(10, TimeUnit.SECONDS);
            assertInstanceOf(SSLHandshakeException.class, r.failure(), String.valueOf(r.failure()));
            assertTrue(r.failure().getMessage().contains(serverSays), r.failure().getMessage());
            // The refused channel stays refused.
            IOException again = assertThrows(IOException.class, () -> r.channel().receive(ByteBuffer.allocate(16)));
            assertTrue(again.getMessage().contains("closed") || again.getMessage().contains(serverSays),
                    again.getMessage());
        }
    }

    @Test
    void closeFromAnotherThreadUnblocksAPendingReceive() throws Exception {
        try (TlsChannelListener listener = listen(serverContext, null, IO)) {
            CompletableFuture<TlsChannel> accepted = acceptAndHandshake(listener);
            try (TlsChannel client = TlsChannel.connect(listener.localAddress(), clientContext, null, IO, IO);
                 TlsChannel server = accepted.get()) {
                server.send(ByteBuffer.wrap(new byte[] {1}));
                assertEquals(1, client.receive(ByteBuffer.allocate(16)));
                CompletableFuture<Integer> pending = CompletableFuture.supplyAsync(() -> {
                    try {
                        return client.receive(ByteBuffer.allocate(16));
                    } catch (IOException e) {
                        throw new RuntimeException(e);
                    }
                }, THREADS);
                Thread.sleep(200);
                long start = System.nanoTime();
                client.close();
                ExecutionException e = assertThrows(ExecutionException.class, () -> pending.get(2, TimeUnit.SECONDS));
                assertTrue(e.getCause().getCause().getMessage().contains("closed"), e.getCause().toString());
                assertTrue(System.nanoTime() - start < 1_000_000_000L, "close did not unblock the receive at once");
            }
        }
    }

    @Test
    void closeFromAnotherThreadUnblocksAPendingHandshake() throws Exception {
        try (TlsChannelListener listener = listen(serverContext, null, IO);
             Socket silent = new Socket(listener.localAddress().getAddress(), listener.localAddress().getPort());
             TlsChannel server = listener.accept(IO)) {
            CompletableFuture<Integer> handshaking = CompletableFuture.supplyAsync(() -> {
                try {
                    return server.receive(ByteBuffer.allocate(16));
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, THREADS);
            Thread.sleep(200);
            long start = System.nanoTime();
            server.close();
            ExecutionException e = assertThrows(ExecutionException.class, () -> handshaking.get(2, TimeUnit.SECONDS));
            assertTrue(e.getCause().getCause().getMessage().contains("closed during the TLS handshake"),
                    e.getCause().getCause().getMessage());
            assertTrue(System.nanoTime() - start < 1_000_000_000L, "close did not unblock the handshake at once");
        }
    }

    @Test
    void acceptReturnsBeforeTheHandshakeAndAHandshakeThatDoesNotFinishTimesOut() throws Exception {
        try (TlsChannelListener listener = listen(serverContext, null, Duration.ofMillis(300));
             Socket slow = new Socket(listener.localAddress().getAddress(), listener.localAddress().getPort())) {
            long start = System.nanoTime();
            try (TlsChannel server = listener.accept(IO)) {
                assertTrue(System.nanoTime() - start < 500_000_000L, "accept waited for a handshake");
                // One byte at a time, each within the read timeout: only the handshake's total bound ends it.
                Thread.ofVirtual().start(() -> {
                    try {
                        OutputStream out = slow.getOutputStream();
                        for (int i = 0; i < 20; i++) {
                            out.write(0x16);
                            out.flush();
                            Thread.sleep(100);
                        }
                    } catch (IOException | InterruptedException ignored) {
                        // the server closed it
                    }
                });
                SocketTimeoutException e = assertThrows(SocketTimeoutException.class,
                        () -> server.receive(ByteBuffer.allocate(16)));
                assertTrue(e.getMessage().contains("did not finish within 300 ms"), e.getMessage());
                assertTrue(System.nanoTime() - start < 1_500_000_000L, "the handshake ran past its bound");
            }
        }
    }

    @Test
    void aSendThatMakesNoProgressTimesOut() throws Exception {
        Duration io = Duration.ofMillis(500);
        try (TlsChannelListener listener = listen(serverContext, null, io)) {
            CompletableFuture<TlsChannel> accepted = CompletableFuture.supplyAsync(() -> {
                try {
                    TlsChannel channel = listener.accept(IO);
                    channel.send(ByteBuffer.wrap(new byte[] {1})); // the handshake; then never read again
                    return channel;
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            }, THREADS);
            try (TlsChannel client = TlsChannel.connect(listener.localAddress(), clientContext, null, IO, io);
                 TlsChannel ignored = accepted.get()) {
                ByteBuffer message = ByteBuffer.allocate(4 << 20);
                long start = System.nanoTime();
                SocketTimeoutException e = assertThrows(SocketTimeoutException.class, () -> {
                    while (System.nanoTime() - start < 20_000_000_000L) {
                        client.send(message.clear());
                    }
                });
                assertTrue(e.getMessage().contains("made no progress for 500 ms"), e.getMessage());
            }
        }
    }

    @Test
    void aPlainTcpClientOnTheTlsPortFailsCleanlyOnBothSides() throws Exception {
        try (TlsChannelListener listener = listen(serverContext, null, IO)) {
            CompletableFuture<Received> server = serveOne(listener);
            try (TcpChannel plain = TcpChannel.connect(listener.localAddress(), IO, IO)) {
                plain.send(ByteBuffer.wrap("HELLO".getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
                IOException e = assertThrows(IOException.class, () -> plain.receive(ByteBuffer.allocate(1 << 20)));
                assertTrue(e instanceof EOFException || e.getMessage().contains("speaks TLS")
                        || e.getMessage().contains("reset"), e.toString());
            }
            Received r = server.get(10, TimeUnit.SECONDS);
            assertTrue(r.failure() != null && r.failure().getMessage().contains("does not speak TLS"),
                    String.valueOf(r.failure()));
        }
    }

    @Test
    void aTlsClientOnAPlainTcpPortFailsCleanlyOnBothSides() throws Exception {
        try (TcpChannelListener listener = TcpChannelListener.bind(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), IO)) {
            CompletableFuture<IOException> server = CompletableFuture.supplyAsync(() -> {
                try (TcpChannel channel = listener.accept(IO)) {
                    channel.receive(ByteBuffer.allocate(1 << 20));
                    return null;
                } catch (IOException e) {
                    return e;
                }
            }, THREADS);
            IOException e = assertThrows(IOException.class,
                    () -> TlsChannel.connect(listener.localAddress(), clientContext, null, IO, IO));
            assertTrue(e.getMessage().startsWith("TLS handshake with "), e.getMessage());
            IOException seen = server.get(10, TimeUnit.SECONDS);
            assertTrue(seen != null && seen.getMessage().contains("speaks TLS"), String.valueOf(seen));
        }
    }

    @Test
    void anAnnouncedLengthOverTheLimitIsRejectedWithoutReadingIt() throws Exception {
        try (TlsChannelListener listener = listen(serverContext, null, IO)) {
            CompletableFuture<Received> server = serveOne(listener);
            InetSocketAddress at = listener.localAddress();
            try (SSLSocket hostile = (SSLSocket) clientContext.getSocketFactory().createSocket(at.getAddress(),
                    at.getPort())) {
                hostile.setEnabledProtocols(new String[] {"TLSv1.3"});
                OutputStream out = hostile.getOutputStream();
                InputStream in = hostile.getInputStream();
                out.write(TlsHandshake.ACCEPTED);
                assertEquals(TlsHandshake.ACCEPTED, in.read());
                out.write(new byte[] {(byte) 0x7F, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF});
                out.flush();
                Received r = server.get(10, TimeUnit.SECONDS);
                MessageTooLargeException e = assertInstanceOf(MessageTooLargeException.class, r.failure());
                assertEquals(0x7FFFFFFFL, e.messageBytes());
            }
        }
    }

    @Test
    void sendingOverTheLimitIsRefusedLocallyAndCloseIsIdempotent() throws Exception {
        try (TlsChannelListener listener = listen(serverContext, null, IO)) {
            CompletableFuture<Received> server = serveOne(listener);
            TlsChannel client = TlsChannel.connect(listener.localAddress(), clientContext, null, IO, IO);
            assertThrows(MessageTooLargeException.class,
                    () -> client.send(ByteBuffer.allocate(TcpChannel.DEFAULT_MAX_MESSAGE_BYTES + 1)));
            client.close();
            client.close();
            assertEquals(-1, server.get(10, TimeUnit.SECONDS).length());
            listener.close();
            listener.close();
            assertThrows(IOException.class, () -> listener.accept(Duration.ofMillis(100)));
        }
    }

    @Test
    void theWarmUpRunsBothStepsToTheEnd() {
        assertTrue(TlsWarmup.cipher(), "the AES-GCM warm-up failed; TLS would start slow");
        assertTrue(TlsWarmup.records(serverContext), "the record layer's warm-up failed; TLS would start slow");
    }

    @Test
    void acceptTimesOutWhenNobodyConnects() throws Exception {
        try (TlsChannelListener listener = listen(serverContext, null, IO)) {
            assertThrows(SocketTimeoutException.class, () -> listener.accept(Duration.ofMillis(100)));
            assertEquals("tls://" + listener.localAddress().getHostString() + ":" + listener.localAddress().getPort(),
                    listener.localDescription());
        }
    }
}
