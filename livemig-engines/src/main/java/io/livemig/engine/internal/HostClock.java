package io.livemig.engine.internal;

import io.livemig.engine.internal.wire.SwitchoverFrames;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

/**
 * Tells whether two sides of a migration read the same monotonic clock: on Linux,
 * {@code System.nanoTime()} is {@code CLOCK_MONOTONIC}, one clock for every process of a host
 * from its boot. The destination puts a token in RESUMED, a hash of the host's boot id and the
 * migration's session id (so it names neither the host nor its boot to anyone else, and differs
 * per migration); the source computes the same and, if they match, the destination's resume
 * instant and its own pause instant are on one clock: their difference is the blackout the guest
 * saw. Where there is no boot id to read, the token is all zero, which matches nothing. Compute
 * the token before the switchover: the first SHA-256 of a JVM costs milliseconds.
 *
 * <p>Thread-safe.
 */
public final class HostClock {

    /** Token length, as RESUMED carries it. */
    public static final int TOKEN_BYTES = SwitchoverFrames.Resumed.HOST_TOKEN_BYTES;
    private static final Path BOOT_ID = Path.of("/proc/sys/kernel/random/boot_id");
    private static final byte[] BOOT = readBootId();

    private HostClock() {
    }

    private static byte[] readBootId() {
        try {
            return Files.readString(BOOT_ID, StandardCharsets.US_ASCII).strip().getBytes(StandardCharsets.US_ASCII);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * @param sessionId the migration's session id
     * @param wallClock whether the migration runs on the system clock (a virtual clock is no host's)
     * @return this host's token for the migration, or all zero if it cannot tell
     */
    public static byte[] token(byte[] sessionId, boolean wallClock) {
        if (BOOT == null || !wallClock) {
            return new byte[TOKEN_BYTES];
        }
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update("livemig-host-clock".getBytes(StandardCharsets.US_ASCII));
            sha.update(BOOT);
            sha.update(sessionId);
            return Arrays.copyOf(sha.digest(), TOKEN_BYTES);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    /**
     * @param ours   this side's {@link #token} for the migration
     * @param theirs the peer's token
     * @return whether the two name one host's clock (never for a zero token)
     */
    public static boolean sameClock(byte[] ours, byte[] theirs) {
        return !Arrays.equals(ours, new byte[TOKEN_BYTES]) && MessageDigest.isEqual(ours, theirs);
    }
}
