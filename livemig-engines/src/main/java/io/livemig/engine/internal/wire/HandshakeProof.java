package io.livemig.engine.internal.wire;

import io.livemig.api.MigrationSecret;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;

/**
 * The proofs each side gives that it holds the migration secret (docs/protocol.md, section 3):
 * HMAC-SHA256, keyed with the secret, over a label that says which side proves (so a proof cannot
 * be reflected back) and the handshake's transcript:
 * <pre>
 * transcript = "livemig-v2" purpose:u8 sessionId[16] nonceS[32] nonceD[32] maxFrameBytes:u32 encodings:u64
 * proofD     = HMAC-SHA256(secret, "destination" transcript)     in HELLO_ACK
 * proofS     = HMAC-SHA256(secret, "source" transcript)          in AUTH
 * </pre>
 * Both nonces are fresh per connection, so a recorded handshake does not replay; the secret
 * never crosses the wire.
 *
 * <p>Stateless and thread-safe.
 */
public final class HandshakeProof {

    private static final byte[] PROTOCOL = "livemig-v2".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DESTINATION = "destination".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] SOURCE = "source".getBytes(StandardCharsets.US_ASCII);

    private HandshakeProof() {
    }

    /** @return the transcript both proofs cover */
    public static byte[] transcript(HandshakeFrames.Purpose purpose, byte[] sessionId, byte[] sourceNonce,
                                    byte[] destinationNonce, int maxFrameBytes, long encodings) {
        return ByteBuffer.allocate(PROTOCOL.length + 1 + sessionId.length + sourceNonce.length
                        + destinationNonce.length + 12)
                .put(PROTOCOL).put((byte) purpose.code()).put(sessionId).put(sourceNonce).put(destinationNonce)
                .putInt(maxFrameBytes).putLong(encodings).array();
    }

    /** @return the destination's proof over {@code transcript} */
    public static byte[] destination(MigrationSecret secret, byte[] transcript) {
        return mac(secret, DESTINATION, transcript);
    }

    /** @return the source's proof over {@code transcript} */
    public static byte[] source(MigrationSecret secret, byte[] transcript) {
        return mac(secret, SOURCE, transcript);
    }

    /** @return whether {@code proof} equals {@code expected}, compared in constant time */
    public static boolean matches(byte[] expected, byte[] proof) {
        return MessageDigest.isEqual(expected, proof);
    }

    private static byte[] mac(MigrationSecret secret, byte[] label, byte[] transcript) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret.keyBytes(), "HmacSHA256"));
            mac.update(label);
            return mac.doFinal(transcript);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this JDK", e);
        }
    }
}
