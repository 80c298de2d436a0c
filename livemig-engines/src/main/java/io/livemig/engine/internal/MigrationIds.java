package io.livemig.engine.internal;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The migration id shown to people (report, logs, progress): 16 hex digits derived from the
 * session id both sides share, so the source's and the destination's logs carry the same id. It
 * is a digest, not the session id itself, which a recovery connection presents and which logs
 * must therefore not reveal.
 */
public final class MigrationIds {

    /** The SLF4J MDC key that carries the migration id on every line a migration logs. */
    public static final String MDC_KEY = "livemig.migration";

    private MigrationIds() {
    }

    /**
     * @param sessionId the handshake's session id
     * @return its public id
     */
    public static String of(byte[] sessionId) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(sessionId);
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
