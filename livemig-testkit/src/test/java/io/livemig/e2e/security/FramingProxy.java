package io.livemig.e2e.security;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A man in the middle on loopback for the attack tests: a TCP proxy between a source and a
 * listening destination that understands the TCP framing of {@code TcpChannel} (a 4-byte
 * big-endian length, then the message), so that it can record each message, and drop one and
 * cut the connection exactly at a message boundary, as a cable cut between two frames would.
 * Every connection made to it is a new connection upstream; a {@link Rule} decides, message by
 * message, what happens.
 *
 * <p>Thread-safe. Owns its server socket, its connections and its threads; {@link #close()}
 * closes them all and is idempotent.
 */
final class FramingProxy implements AutoCloseable {

    /** Which way a message travels. */
    enum Way {
        /** From the source to the destination. */
        FORWARD,
        /** From the destination back to the source (the return path). */
        RETURN
    }

    /** What to do with one message. */
    enum Verdict {
        /** Pass it on. */
        PASS,
        /** Drop it and close both sides of the connection, as if the cable were cut before it. */
        DROP_AND_CUT
    }

    /** Decides the fate of each message. Called on the proxy's pump threads. */
    @FunctionalInterface
    interface Rule {
        /**
         * @param connection the connection's number, 0 for the first made to the proxy
         * @param way        which way the message travels
         * @param message    the message, without its length prefix (do not modify)
         */
        Verdict on(int connection, Way way, byte[] message);
    }

    /** Passes everything. */
    static final Rule PASS_ALL = (connection, way, message) -> Verdict.PASS;

    private final ServerSocket server;
    private final InetSocketAddress upstream;
    private final Rule rule;
    private final List<Link> links = new CopyOnWriteArrayList<>();
    private final Thread acceptor;
    private volatile boolean closed;

    private FramingProxy(ServerSocket server, InetSocketAddress upstream, Rule rule) {
        this.server = server;
        this.upstream = upstream;
        this.rule = rule;
        this.acceptor = Thread.ofPlatform().daemon().name("proxy-accept").unstarted(this::acceptLoop);
    }

    /**
     * Starts a proxy on a free loopback port.
     *
     * @param upstream the destination's listening address
     * @param rule     what to do with each message
     */
    static FramingProxy to(InetSocketAddress upstream, Rule rule) throws IOException {
        ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        FramingProxy proxy = new FramingProxy(server, upstream, rule);
        proxy.acceptor.start();
        return proxy;
    }

    /** @return where sources connect to go through the proxy */
    InetSocketAddress address() {
        return new InetSocketAddress(server.getInetAddress(), server.getLocalPort());
    }

    /** @return how many connections were made through the proxy so far */
    int connections() {
        return links.size();
    }

    /** @return a copy of the messages that connection {@code connection} carried forward so far, in order */
    List<byte[]> forwardMessages(int connection) {
        return List.copyOf(links.get(connection).forward);
    }

    /** @return the first message connection {@code connection} carried forward (the source's HELLO) */
    byte[] firstForwardMessage(int connection) {
        return links.get(connection).forward.getFirst();
    }

    /** @return whether connection {@code connection} was cut by a {@link Verdict#DROP_AND_CUT} */
    boolean wasCut(int connection) {
        return links.get(connection).cut;
    }

    private void acceptLoop() {
        while (!closed) {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException e) {
                return;
            }
            Link link = new Link(links.size(), client);
            links.add(link);
            try {
                link.open();
            } catch (IOException e) {
                link.close();
            }
        }
    }

    /** One proxied connection: the source's socket, the destination's, a pump each way. */
    private final class Link {
        final int number;
        final Socket client;
        final Socket server = new Socket();
        final List<byte[]> forward = new CopyOnWriteArrayList<>();
        volatile boolean cut;

        Link(int number, Socket client) {
            this.number = number;
            this.client = client;
        }

        void open() throws IOException {
            server.connect(upstream, 5_000);
            client.setTcpNoDelay(true);
            server.setTcpNoDelay(true);
            Thread.ofPlatform().daemon().name("proxy-" + number + "-forward")
                    .start(() -> pump(client, server, Way.FORWARD));
            Thread.ofPlatform().daemon().name("proxy-" + number + "-return")
                    .start(() -> pump(server, client, Way.RETURN));
        }

        private void pump(Socket from, Socket to, Way way) {
            try {
                DataInputStream in = new DataInputStream(from.getInputStream());
                DataOutputStream out = new DataOutputStream(to.getOutputStream());
                while (true) {
                    int length;
                    try {
                        length = in.readInt();
                    } catch (EOFException orderly) {
                        break;
                    }
                    byte[] message = new byte[length];
                    in.readFully(message);
                    if (rule.on(number, way, message) == Verdict.DROP_AND_CUT) {
                        cut = true;
                        close();
                        return;
                    }
                    if (way == Way.FORWARD) {
                        forward.add(message);
                    }
                    out.writeInt(length);
                    out.write(message);
                    out.flush();
                }
                // An orderly close on one side is passed on as one on the other.
                to.shutdownOutput();
            } catch (IOException | RuntimeException e) {
                close();
            }
        }

        void close() {
            closeQuietly(client);
            closeQuietly(server);
        }
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing is best effort
        }
    }

    /** Stops accepting and closes every connection. Idempotent. */
    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // closing is best effort
        }
        for (Link link : new ArrayList<>(links)) {
            link.close();
        }
    }
}
