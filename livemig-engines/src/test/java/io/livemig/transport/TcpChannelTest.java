package io.livemig.transport;

import io.livemig.channel.MessageTooLargeException;
import org.junit.jupiter.api.Test;

import java.io.EOFException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TcpChannelTest {

    private static TcpChannelListener listen(Duration ioTimeout) throws Exception {
        return TcpChannelListener.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), ioTimeout);
    }

    @Test
    void messagesArriveWholeInOrderBothWaysAndCloseIsOrderly() throws Exception {
        try (TcpChannelListener listener = listen(Duration.ofSeconds(5))) {
            CompletableFuture<TcpChannel> accepted = CompletableFuture.supplyAsync(() -> {
                try {
                    return listener.accept(Duration.ofSeconds(5));
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            try (TcpChannel client = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5),
                    Duration.ofSeconds(5)); TcpChannel server = accepted.get()) {
                Random random = new Random(1);
                byte[][] sent = new byte[20][];
                CompletableFuture<Void> sender = CompletableFuture.runAsync(() -> {
                    try {
                        for (int i = 0; i < sent.length; i++) {
                            sent[i] = new byte[1 + random.nextInt(3 << 20)];
                            random.nextBytes(sent[i]);
                            client.send(ByteBuffer.wrap(sent[i]));
                        }
                        client.close();
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                });
                ByteBuffer in = ByteBuffer.allocateDirect(TcpChannel.DEFAULT_MAX_MESSAGE_BYTES);
                for (int i = 0; i < sent.length; i++) {
                    in.clear();
                    int n = server.receive(in);
                    sender.getNow(null);
                    byte[] got = new byte[n];
                    in.flip().get(got);
                    assertArrayEquals(sent[i], got, "message " + i);
                }
                in.clear();
                assertEquals(-1, server.receive(in), "orderly close at a message boundary");
                sender.get();
            }
        }
    }

    @Test
    void anAnnouncedLengthOverTheLimitIsRejectedWithoutReadingIt() throws Exception {
        try (TcpChannelListener listener = listen(Duration.ofSeconds(5));
             Socket raw = new Socket(listener.localAddress().getAddress(), listener.localAddress().getPort());
             TcpChannel server = listener.accept(Duration.ofSeconds(5))) {
            OutputStream out = raw.getOutputStream();
            out.write(new byte[] {(byte) 0x7F, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF});
            out.flush();
            MessageTooLargeException e = assertThrows(MessageTooLargeException.class,
                    () -> server.receive(ByteBuffer.allocate(1 << 20)));
            assertEquals(0x7FFFFFFFL, e.messageBytes());
        }
    }

    @Test
    void aConnectionThatEndsInsideAMessageIsAnEofError() throws Exception {
        try (TcpChannelListener listener = listen(Duration.ofSeconds(5));
             Socket raw = new Socket(listener.localAddress().getAddress(), listener.localAddress().getPort());
             TcpChannel server = listener.accept(Duration.ofSeconds(5))) {
            OutputStream out = raw.getOutputStream();
            out.write(new byte[] {0, 0, 0, 100, 1, 2, 3});
            out.flush();
            raw.close();
            assertThrows(EOFException.class, () -> server.receive(ByteBuffer.allocate(1 << 20)));
        }
    }

    @Test
    void aSilentPeerTimesOut() throws Exception {
        try (TcpChannelListener listener = listen(Duration.ofMillis(200));
             Socket raw = new Socket(listener.localAddress().getAddress(), listener.localAddress().getPort());
             TcpChannel server = listener.accept(Duration.ofSeconds(5))) {
            assertThrows(SocketTimeoutException.class, () -> server.receive(ByteBuffer.allocate(1024)));
        }
    }

    @Test
    void connectingToNobodyFailsAndAcceptTimesOut() throws Exception {
        InetSocketAddress free;
        try (TcpChannelListener listener = listen(Duration.ofSeconds(1))) {
            free = listener.localAddress();
            assertThrows(SocketTimeoutException.class, () -> listener.accept(Duration.ofMillis(100)));
        }
        assertThrows(java.io.IOException.class, () -> TcpChannel.connect(free, Duration.ofSeconds(2), Duration.ofSeconds(1)));
    }

    @Test
    void closingTheListenerWhileAnotherThreadAcceptsEndsThatAcceptWithAnIoException() throws Exception {
        TcpChannelListener listener = listen(Duration.ofSeconds(5));
        CompletableFuture<Throwable> waiting = CompletableFuture.supplyAsync(() -> {
            try {
                listener.accept(Duration.ofSeconds(30)).close();
                return null;
            } catch (Throwable e) {
                return e;
            }
        });
        Thread.sleep(100); // let it block in the selector (not required: a closed listener fails the same way)
        listener.close();
        Throwable failure = waiting.get();
        assertInstanceOf(java.io.IOException.class, failure);
    }

    @Test
    void sendingOverTheLimitIsRefusedLocally() throws Exception {
        try (TcpChannelListener listener = listen(Duration.ofSeconds(5))) {
            CompletableFuture<TcpChannel> accepted = CompletableFuture.supplyAsync(() -> {
                try {
                    return listener.accept(Duration.ofSeconds(5));
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            try (TcpChannel client = TcpChannel.connect(listener.localAddress(), Duration.ofSeconds(5),
                    Duration.ofSeconds(5)); TcpChannel ignored = accepted.get()) {
                assertThrows(MessageTooLargeException.class,
                        () -> client.send(ByteBuffer.allocate(TcpChannel.DEFAULT_MAX_MESSAGE_BYTES + 1)));
                client.close();
                client.close();
            }
        }
    }
}
