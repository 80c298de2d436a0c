package io.livemig.engine.internal.wire;

import io.livemig.api.MigrationSecret;
import io.livemig.engine.internal.wire.HandshakeFrames.Purpose;
import org.junit.jupiter.api.Test;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.livemig.engine.internal.wire.WireFixtures.DESTINATION_NONCE;
import static io.livemig.engine.internal.wire.WireFixtures.SESSION_ID;
import static io.livemig.engine.internal.wire.WireFixtures.SOURCE_NONCE;
import static io.livemig.engine.internal.wire.WireFixtures.ascending;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The proofs of the migration secret (docs/protocol.md, section 3) are HMAC-SHA256 keyed with
 * the secret over exactly {@code label || transcript}, with the label "destination" or "source"
 * and the transcript {@code "livemig-v2" purpose:u8 sessionId nonceS nonceD maxFrameBytes:u32
 * encodings:u64}: assembled here byte by byte and MACed with javax.crypto directly, and pinned by
 * one known answer computed outside Java (Python's hmac). A proof binds every field of the
 * transcript, so a recorded handshake does not replay on a connection with other nonces.
 */
class HandshakeProofTest {

    /** The secret of the known answer: bytes 0xA0 to 0xBF. */
    private static final byte[] KEY = ascending(0xA0, 32);
    private static final MigrationSecret SECRET = MigrationSecret.of(KEY);
    private static final int MAX_FRAME = Wire.DEFAULT_MAX_FRAME_BYTES;
    private static final long ENCODINGS = 0b110;

    /** The transcript as the protocol documents it, assembled without {@link HandshakeProof}. */
    private static byte[] documentedTranscript(int purpose, byte[] sessionId, byte[] sourceNonce,
                                               byte[] destinationNonce, int maxFrameBytes, long encodings) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes("livemig-v2".getBytes(StandardCharsets.US_ASCII));
        out.write(purpose);
        out.writeBytes(sessionId);
        out.writeBytes(sourceNonce);
        out.writeBytes(destinationNonce);
        for (int shift = 24; shift >= 0; shift -= 8) {
            out.write(maxFrameBytes >>> shift);
        }
        for (int shift = 56; shift >= 0; shift -= 8) {
            out.write((int) (encodings >>> shift));
        }
        return out.toByteArray();
    }

    private static byte[] hmacSha256(byte[] key, String label, byte[] transcript) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        ByteArrayOutputStream message = new ByteArrayOutputStream();
        message.writeBytes(label.getBytes(StandardCharsets.US_ASCII));
        message.writeBytes(transcript);
        return mac.doFinal(message.toByteArray());
    }

    private static byte[] transcript(Purpose purpose, byte[] sessionId, byte[] sourceNonce, byte[] destinationNonce,
                                     int maxFrameBytes, long encodings) {
        return HandshakeProof.transcript(purpose, sessionId, sourceNonce, destinationNonce, maxFrameBytes, encodings);
    }

    private static byte[] baseline() {
        return transcript(Purpose.NEW, SESSION_ID, SOURCE_NONCE, DESTINATION_NONCE, MAX_FRAME, ENCODINGS);
    }

    @Test
    void theTranscriptIsTheDocumentedBytesForEveryPurpose() {
        for (Purpose purpose : Purpose.values()) {
            byte[] expected = documentedTranscript(purpose.code(), SESSION_ID, SOURCE_NONCE, DESTINATION_NONCE,
                    MAX_FRAME, ENCODINGS);
            assertEquals(10 + 1 + 16 + 32 + 32 + 4 + 8, expected.length);
            assertArrayEquals(expected, transcript(purpose, SESSION_ID, SOURCE_NONCE, DESTINATION_NONCE, MAX_FRAME,
                    ENCODINGS), purpose.name());
        }
        // The top bits of the frame limit and the encodings travel unsigned, big-endian.
        assertArrayEquals(documentedTranscript(3, SESSION_ID, SOURCE_NONCE, DESTINATION_NONCE, Integer.MAX_VALUE, -2L),
                transcript(Purpose.SETTLE, SESSION_ID, SOURCE_NONCE, DESTINATION_NONCE, Integer.MAX_VALUE, -2L));
    }

    @Test
    void proofsAreHmacSha256OfTheLabelThenTheTranscript() throws Exception {
        for (Purpose purpose : Purpose.values()) {
            byte[] transcript = documentedTranscript(purpose.code(), SESSION_ID, SOURCE_NONCE, DESTINATION_NONCE,
                    MAX_FRAME, ENCODINGS);
            assertArrayEquals(hmacSha256(KEY, "destination", transcript),
                    HandshakeProof.destination(SECRET, transcript), purpose.name());
            assertArrayEquals(hmacSha256(KEY, "source", transcript), HandshakeProof.source(SECRET, transcript),
                    purpose.name());
        }
        byte[] otherKey = ascending(1, MigrationSecret.MIN_BYTES);
        byte[] transcript = baseline();
        assertArrayEquals(hmacSha256(otherKey, "destination", transcript),
                HandshakeProof.destination(MigrationSecret.of(otherKey), transcript), "a 16-byte secret");
    }

    @Test
    void proofsMatchAKnownAnswerComputedOutsideJava() {
        // python3: hmac.new(bytes(range(0xA0, 0xC0)), label + b"livemig-v2" + bytes([1]) + bytes(range(0x10, 0x60))
        //          + (1 << 24).to_bytes(4, "big") + (6).to_bytes(8, "big"), hashlib.sha256).hexdigest()
        HexFormat hex = HexFormat.of().withUpperCase();
        assertEquals("65322D50FAEFF3F9E5995338F9A2CB6E7D4F5685EF759705A4F6C30F3AFC5635",
                hex.formatHex(HandshakeProof.destination(SECRET, baseline())));
        assertEquals("ED7FDBDFABD7AAAF15B65B20102F664D1D76FE9CC85662D7D9F5008B10142344",
                hex.formatHex(HandshakeProof.source(SECRET, baseline())));
    }

    @Test
    void theDestinationsAndTheSourcesProofsDifferForTheSameTranscript() {
        for (Purpose purpose : Purpose.values()) {
            byte[] transcript = transcript(purpose, SESSION_ID, SOURCE_NONCE, DESTINATION_NONCE, MAX_FRAME, ENCODINGS);
            byte[] destination = HandshakeProof.destination(SECRET, transcript);
            byte[] source = HandshakeProof.source(SECRET, transcript);
            assertEquals(HandshakeFrames.PROOF_BYTES, destination.length);
            assertEquals(HandshakeFrames.PROOF_BYTES, source.length);
            assertFalse(HandshakeProof.matches(destination, source), "a proof must not reflect: " + purpose);
        }
    }

    @Test
    void changingAnyFieldOfTheTranscriptChangesBothProofs() {
        Map<String, byte[]> variants = new LinkedHashMap<>();
        for (Purpose purpose : Purpose.values()) {
            if (purpose != Purpose.NEW) {
                variants.put("purpose " + purpose,
                        transcript(purpose, SESSION_ID, SOURCE_NONCE, DESTINATION_NONCE, MAX_FRAME, ENCODINGS));
            }
        }
        variants.put("session id, last bit", transcript(Purpose.NEW, flipped(SESSION_ID, 15, 0x01), SOURCE_NONCE,
                DESTINATION_NONCE, MAX_FRAME, ENCODINGS));
        variants.put("source nonce, first bit", transcript(Purpose.NEW, SESSION_ID, flipped(SOURCE_NONCE, 0, 0x80),
                DESTINATION_NONCE, MAX_FRAME, ENCODINGS));
        variants.put("source nonce, last bit", transcript(Purpose.NEW, SESSION_ID, flipped(SOURCE_NONCE, 31, 0x01),
                DESTINATION_NONCE, MAX_FRAME, ENCODINGS));
        variants.put("destination nonce, first bit", transcript(Purpose.NEW, SESSION_ID, SOURCE_NONCE,
                flipped(DESTINATION_NONCE, 0, 0x80), MAX_FRAME, ENCODINGS));
        variants.put("destination nonce, last bit", transcript(Purpose.NEW, SESSION_ID, SOURCE_NONCE,
                flipped(DESTINATION_NONCE, 31, 0x01), MAX_FRAME, ENCODINGS));
        variants.put("the two nonces swapped", transcript(Purpose.NEW, SESSION_ID, DESTINATION_NONCE, SOURCE_NONCE,
                MAX_FRAME, ENCODINGS));
        variants.put("frame limit + 1", transcript(Purpose.NEW, SESSION_ID, SOURCE_NONCE, DESTINATION_NONCE,
                MAX_FRAME + 1, ENCODINGS));
        variants.put("frame limit, top bit", transcript(Purpose.NEW, SESSION_ID, SOURCE_NONCE, DESTINATION_NONCE,
                MAX_FRAME | Integer.MIN_VALUE, ENCODINGS));
        variants.put("encodings, one more bit", transcript(Purpose.NEW, SESSION_ID, SOURCE_NONCE, DESTINATION_NONCE,
                MAX_FRAME, ENCODINGS | 1L << 4));
        variants.put("encodings, bit 63", transcript(Purpose.NEW, SESSION_ID, SOURCE_NONCE, DESTINATION_NONCE,
                MAX_FRAME, ENCODINGS | Long.MIN_VALUE));

        byte[] destination = HandshakeProof.destination(SECRET, baseline());
        byte[] source = HandshakeProof.source(SECRET, baseline());
        List<String> unchanged = new ArrayList<>();
        variants.forEach((change, transcript) -> {
            if (HandshakeProof.matches(destination, HandshakeProof.destination(SECRET, transcript))) {
                unchanged.add("destination's proof, " + change);
            }
            if (HandshakeProof.matches(source, HandshakeProof.source(SECRET, transcript))) {
                unchanged.add("source's proof, " + change);
            }
        });
        assertEquals(List.of(), unchanged, "proofs that do not bind a field of the transcript");
    }

    @Test
    void anotherSecretGivesOtherProofs() {
        MigrationSecret other = MigrationSecret.of(flipped(KEY, 31, 0x01));
        assertFalse(HandshakeProof.matches(HandshakeProof.destination(SECRET, baseline()),
                HandshakeProof.destination(other, baseline())));
        assertFalse(HandshakeProof.matches(HandshakeProof.source(SECRET, baseline()),
                HandshakeProof.source(other, baseline())));
    }

    @Test
    void matchesIsEqualityOfEveryByte() {
        byte[] proof = HandshakeProof.destination(SECRET, baseline());
        assertTrue(HandshakeProof.matches(proof, proof.clone()));
        for (int at : new int[] {0, 15, 31}) {
            assertFalse(HandshakeProof.matches(proof, flipped(proof, at, 0x01)), "bit 0 of byte " + at);
        }
        assertFalse(HandshakeProof.matches(proof, new byte[HandshakeFrames.PROOF_BYTES]));
        assertFalse(HandshakeProof.matches(proof, Arrays.copyOf(proof, 31)), "a prefix");
    }

    private static byte[] flipped(byte[] bytes, int at, int mask) {
        byte[] out = bytes.clone();
        out[at] ^= (byte) mask;
        return out;
    }
}
