package io.livemig.transport;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.security.GeneralSecurityException;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * Warms up the JDK's AES-GCM once per JVM, on a background thread, before a TLS migration needs
 * it. Until C2 has compiled the GCM code with its intrinsic (after some 15 000 records), the JDK
 * encrypts and decrypts at a few tens of MB/s; on this project's 2-core machine a fresh JVM moved
 * the first 256 MiB over TLS at 0.06 GB/s and took about 1 GiB to reach full speed, which is the
 * whole of a 1 GiB migration. Twenty thousand encryptions and decryptions of 2 KiB (80 MB, a
 * fraction of a second of one core at low priority) get the intrinsic compiled instead.
 *
 * <p>Thread-safe; {@link #start()} is idempotent.
 */
final class CipherWarmup {

    private static final Logger LOG = LoggerFactory.getLogger(CipherWarmup.class);
    private static final int ROUNDS = 20_000;
    private static final int BYTES = 2048;
    private static final int TAG_BITS = 128;
    private static final AtomicBoolean STARTED = new AtomicBoolean();

    private CipherWarmup() {
    }

    /** Starts the warm-up unless it ran or runs already; returns at once. */
    static void start() {
        if (STARTED.compareAndSet(false, true)) {
            Thread.ofPlatform().daemon().name("livemig-tls-warmup").priority(Thread.MIN_PRIORITY)
                    .start(CipherWarmup::run);
        }
    }

    private static void run() {
        long start = System.nanoTime();
        try {
            SecretKeySpec key = new SecretKeySpec(new byte[32], "AES"); // AES-256, as TLS_AES_256_GCM_SHA384
            Cipher seal = Cipher.getInstance("AES/GCM/NoPadding");
            Cipher open = Cipher.getInstance("AES/GCM/NoPadding");
            byte[] plain = new byte[BYTES];
            byte[] sealed = new byte[BYTES + TAG_BITS / 8];
            byte[] opened = new byte[BYTES];
            byte[] nonce = new byte[12];
            for (int i = 0; i < ROUNDS; i++) {
                nonce[0] = (byte) i; // GCM refuses a nonce it was given before with the same key
                nonce[1] = (byte) (i >>> 8);
                nonce[2] = (byte) (i >>> 16);
                seal.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, nonce));
                int length = seal.doFinal(plain, 0, BYTES, sealed, 0);
                open.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, nonce));
                open.doFinal(sealed, 0, length, opened, 0);
            }
            LOG.debug("AES-GCM warmed up in {} ms", (System.nanoTime() - start) / 1_000_000);
        } catch (GeneralSecurityException | RuntimeException e) {
            LOG.debug("AES-GCM warm-up skipped: {}", e.toString());
        }
    }
}
