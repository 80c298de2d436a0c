package io.livemig.disk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.livemig.disk.internal.SidecarHeader;
import io.livemig.disk.internal.SidecarHeader.InvalidHeaderException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The sidecar header's encoding: a round trip, and a rejection for each kind of damage. */
class SidecarHeaderTest {

    private static final SidecarHeader HEADER =
            new SidecarHeader(4096, 1L << 20, true, Optional.of("gen-42"), TestImages.BOOT);

    @Test
    void aHeaderRoundTrips() throws InvalidHeaderException {
        ByteBuffer bytes = HEADER.encode();
        assertEquals(SidecarHeader.SIZE_BYTES, bytes.remaining());
        assertEquals("LMDSYNC1", StandardCharsets.US_ASCII.decode(bytes.slice(0, 8)).toString());
        assertEquals(HEADER, SidecarHeader.decode(bytes));
        SidecarHeader none = new SidecarHeader(512, 1, false, Optional.empty(), "");
        assertEquals(none, SidecarHeader.decode(none.encode()));
    }

    @Test
    void aFlippedBitFailsTheCrc() {
        ByteBuffer bytes = HEADER.encode();
        bytes.put(20, (byte) (bytes.get(20) ^ 1));
        InvalidHeaderException e = assertThrows(InvalidHeaderException.class, () -> SidecarHeader.decode(bytes));
        assertTrue(e.getMessage().contains("CRC32C"), e.getMessage());
    }

    @Test
    void anotherMagicIsRefused() {
        ByteBuffer bytes = HEADER.encode();
        bytes.put(7, (byte) '2');
        InvalidHeaderException e = assertThrows(InvalidHeaderException.class, () -> SidecarHeader.decode(bytes));
        assertTrue(e.getMessage().contains("magic"), e.getMessage());
    }

    @Test
    void aShortHeaderIsRefused() {
        ByteBuffer bytes = HEADER.encode().limit(100);
        InvalidHeaderException e = assertThrows(InvalidHeaderException.class, () -> SidecarHeader.decode(bytes));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void anotherFormatVersionIsRefusedEvenWithAValidCrc() {
        ByteBuffer bytes = HEADER.encode();
        bytes.order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(8, 2);
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(bytes.slice(0, 156));
        bytes.putInt(156, (int) crc.getValue());
        InvalidHeaderException e = assertThrows(InvalidHeaderException.class, () -> SidecarHeader.decode(bytes));
        assertTrue(e.getMessage().contains("format version 2"), e.getMessage());
    }
}
