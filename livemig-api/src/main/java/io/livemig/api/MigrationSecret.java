package io.livemig.api;

import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Objects;

/**
 * A secret that the control plane gives both sides of one migration, and that each side proves it
 * knows before the other trusts it: at the handshake and again on every recovery connection, by
 * an HMAC-SHA256 over nonces from both sides (the secret itself never crosses the wire; a
 * recorded handshake does not replay, because the nonces differ). Use a new secret per
 * migration: {@link #random()}, handed to both hosts over the control plane's own secure channel.
 *
 * <p>Immutable and thread-safe. {@link #toString()} does not show the secret.
 */
public final class MigrationSecret {

    /** Shortest secret accepted, in bytes (128 bits). */
    public static final int MIN_BYTES = 16;
    /** Longest secret accepted, in bytes. */
    public static final int MAX_BYTES = 64;
    /** Length of {@link #random()} secrets, in bytes (256 bits). */
    public static final int RANDOM_BYTES = 32;

    private static final SecureRandom RANDOM = new SecureRandom();

    private final byte[] key;

    private MigrationSecret(byte[] key) {
        if (key.length < MIN_BYTES || key.length > MAX_BYTES) {
            throw new IllegalArgumentException("a migration secret holds " + MIN_BYTES + " to " + MAX_BYTES
                    + " bytes, not " + key.length);
        }
        this.key = key.clone();
    }

    /** {@return a new secret of {@value #RANDOM_BYTES} random bytes from a {@link SecureRandom}} */
    public static MigrationSecret random() {
        byte[] key = new byte[RANDOM_BYTES];
        RANDOM.nextBytes(key);
        return new MigrationSecret(key);
    }

    /**
     * Wraps a secret the caller already holds.
     *
     * @param key the secret's bytes (copied)
     * @return the secret
     * @throws IllegalArgumentException if shorter than {@value #MIN_BYTES} or longer than {@value #MAX_BYTES} bytes
     */
    public static MigrationSecret of(byte[] key) {
        return new MigrationSecret(Objects.requireNonNull(key, "key"));
    }

    /**
     * Parses a secret written as {@link #toHex()} writes it.
     *
     * @param hex the secret as hexadecimal digits (as {@link #toHex()} gives it; surrounding
     *            white space is ignored)
     * @return the secret
     * @throws IllegalArgumentException if it is not hexadecimal or has the wrong length
     */
    public static MigrationSecret fromHex(String hex) {
        byte[] key;
        try {
            key = HexFormat.of().parseHex(hex.strip());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("a migration secret must be written in hexadecimal digits", e);
        }
        return new MigrationSecret(key);
    }

    /** {@return the secret in lower-case hexadecimal, to hand to the other side} */
    public String toHex() {
        return HexFormat.of().formatHex(key);
    }

    /** {@return a copy of the secret's bytes, for the engines' HMAC key} */
    public byte[] keyBytes() {
        return key.clone();
    }

    /** Compares in constant time. */
    @Override
    public boolean equals(Object o) {
        return o instanceof MigrationSecret other && java.security.MessageDigest.isEqual(key, other.key);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(key);
    }

    @Override
    public String toString() {
        return "MigrationSecret[" + key.length + " bytes, not shown]";
    }
}
