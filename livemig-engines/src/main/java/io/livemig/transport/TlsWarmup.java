package io.livemig.transport;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * Warms up the JDK's TLS once per JVM, on a background thread, before a migration needs it.
 * Until C2 has compiled AES-GCM with its intrinsic and the TLS record layer around it (after some
 * 15 000 records each), the JDK encrypts in plain Java: on this project's 2-core machine a fresh
 * JVM moved the first 256 MiB over TLS at 0.06 GB/s and needed about 1 GiB to reach full speed,
 * the whole of a 1 GiB migration. Two steps, about a second of CPU in all (most of it the JIT
 * compiling) and 0.6 s of wall time on that machine, on a low-priority daemon thread:
 *
 * <ol>
 *   <li>{@value #CIPHER_ROUNDS} AES-256-GCM encryptions and decryptions of 2 KiB, with the calls
 *       the JDK's TLS records make (in place, on heap {@code ByteBuffer}s, with additional data;
 *       the {@code byte[]} calls would compile other methods);</li>
 *   <li>{@value #RECORDS} small records over a TLS connection on loopback, from a throw-away client
 *       to a server made with the caller's {@link SSLContext} (its certificate, no client
 *       certificate asked): the socket's record layer. The connection is made to a server socket
 *       that is closed as soon as it accepted, and is used only if the accepted peer is the
 *       warm-up's own client; it carries zeros. If the context cannot serve (a certificate only
 *       for client use), this step is skipped.</li>
 * </ol>
 *
 * <p>Thread-safe; {@link #start} is idempotent.
 */
final class TlsWarmup {

    private static final Logger LOG = LoggerFactory.getLogger(TlsWarmup.class);
    private static final int CIPHER_ROUNDS = 20_000;
    private static final int CIPHER_BYTES = 2048;
    private static final int RECORDS = 20_000;
    private static final int RECORD_BYTES = 1024;
    private static final int TAG_BITS = 128;
    private static final AtomicBoolean STARTED = new AtomicBoolean();
    private static final CompletableFuture<Void> DONE = new CompletableFuture<>();

    private TlsWarmup() {
    }

    /**
     * Starts the warm-up unless it ran or runs already; returns at once.
     *
     * @param context the caller's TLS context, for the record layer's step
     * @return completes when the (first) warm-up has ended, whether its steps ran or were skipped
     */
    static CompletableFuture<Void> start(SSLContext context) {
        if (STARTED.compareAndSet(false, true)) {
            Thread.ofPlatform().daemon().name("livemig-tls-warmup").priority(Thread.MIN_PRIORITY).start(() -> {
                long start = System.nanoTime();
                try {
                    boolean cipher = cipher();
                    boolean records = records(context);
                    LOG.debug("TLS warm-up in {} ms: cipher {}, records {}", (System.nanoTime() - start) / 1_000_000,
                            cipher, records);
                } finally {
                    DONE.complete(null);
                }
            });
        }
        return DONE.copy();
    }

    /**
     * The cipher step, on the calling thread.
     *
     * @return true if it ran to the end (it never throws: a JDK without AES-GCM only misses the warm-up)
     */
    static boolean cipher() {
        try {
            SecretKeySpec key = new SecretKeySpec(new byte[32], "AES"); // AES-256, as TLS_AES_256_GCM_SHA384
            Cipher seal = Cipher.getInstance("AES/GCM/NoPadding");
            Cipher open = Cipher.getInstance("AES/GCM/NoPadding");
            byte[] header = {23, 3, 3, 0, 0}; // a TLS 1.3 record header, the additional data of every record
            ByteBuffer record = ByteBuffer.allocate(CIPHER_BYTES + TAG_BITS / 8);
            byte[] nonce = new byte[12];
            for (int i = 0; i < CIPHER_ROUNDS; i++) {
                nonce[0] = (byte) i; // GCM refuses a nonce it was given before with the same key
                nonce[1] = (byte) (i >>> 8);
                nonce[2] = (byte) (i >>> 16);
                ByteBuffer plain = record.clear().duplicate().limit(CIPHER_BYTES);
                seal.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, nonce));
                seal.updateAAD(header);
                seal.doFinal(plain, record);
                ByteBuffer sealed = record.flip().duplicate();
                open.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, nonce));
                open.updateAAD(header);
                open.doFinal(sealed, record.clear());
            }
            return true;
        } catch (GeneralSecurityException | RuntimeException e) {
            LOG.debug("AES-GCM warm-up skipped: {}", e.toString());
            return false;
        }
    }

    /**
     * The record layer's step, on the calling thread (and one more for the server's reads).
     *
     * @return true if it ran to the end; false if it was skipped or failed (it never throws)
     */
    static boolean records(SSLContext context) {
        Socket client = new Socket();
        Socket accepted = null;
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            server.setSoTimeout(2000);
            client.connect(server.getLocalSocketAddress(), 2000);
            accepted = server.accept();
            server.close(); // nobody else gets in
            if (accepted.getPort() != client.getLocalPort()) {
                return false; // someone else's connection came first: not ours to use
            }
            client.setSoTimeout(10_000);
            accepted.setSoTimeout(10_000);
            SSLContext anyServer = SSLContext.getInstance("TLSv1.3");
            anyServer.init(null, new TrustManager[] {new TrustingWarmupPeer()}, null);
            SSLSocket serverSide = (SSLSocket) context.getSocketFactory().createSocket(accepted, null,
                    accepted.getPort(), true);
            serverSide.setUseClientMode(false);
            serverSide.setEnabledProtocols(new String[] {"TLSv1.3"});
            SSLSocket clientSide = (SSLSocket) anyServer.getSocketFactory().createSocket(client, null,
                    client.getPort(), true);
            clientSide.setEnabledProtocols(new String[] {"TLSv1.3"});
            Thread reader = Thread.ofPlatform().daemon().name("livemig-tls-warmup-reader").start(() -> drain(serverSide));
            try (OutputStream out = clientSide.getOutputStream()) {
                byte[] record = new byte[RECORD_BYTES];
                for (int i = 0; i < RECORDS; i++) {
                    out.write(record); // one write, one record
                }
            }
            reader.join(10_000);
            return true;
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            LOG.debug("TLS record warm-up skipped: {}", e.toString());
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            closeQuietly(client);
            closeQuietly(accepted);
        }
    }

    private static void drain(SSLSocket socket) {
        try (socket; InputStream in = socket.getInputStream()) {
            byte[] buffer = new byte[RECORD_BYTES];
            while (in.read(buffer) >= 0) {
                // zeros from our own client; read to compile the read path
            }
        } catch (IOException ignored) {
            // the client closed, or the step failed: nothing to keep
        }
    }

    private static void closeQuietly(Socket socket) {
        if (socket != null) {
            try {
                socket.close();
            } catch (IOException ignored) {
                // best effort
            }
        }
    }

    /**
     * The warm-up client's trust manager: it accepts the caller's own server certificate without
     * a check, since it talks only to the server socket it connected itself on loopback, sends only
     * zeros and is closed at once. Never used for a migration.
     */
    private static final class TrustingWarmupPeer extends X509ExtendedTrustManager {
        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {
            throw new UnsupportedOperationException("the warm-up client is never a server");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) {
            // our own server, on a loopback connection we made and checked: see the class comment
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
            throw new UnsupportedOperationException("the warm-up client is never a server");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
            // never used with an engine
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) {
            throw new UnsupportedOperationException("the warm-up client is never a server");
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) {
            // as above
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
