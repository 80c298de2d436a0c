package io.livemig.compress;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static io.livemig.compress.PageSets.PAGE;
import static io.livemig.compress.PageSets.direct;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DedupCodecTest {

    private static final int LIMIT = PAGE - PageEncoder.MIN_SAVING_BYTES;

    /** Keys are 0..15; key k is page 100 + k. */
    private final DedupCodec codec = new DedupCodec(PAGE, 16, key -> 100 + key);
    private final ByteBuffer out = ByteBuffer.allocateDirect(PAGE);

    @Test
    void aDuplicateTravelsAsAReferenceThatDecodesAgainstItsBase() {
        byte[] a = PageSets.random(1);
        assertEquals(PageCodec.DECLINED, codec.encode(2, direct(a), 0, out, 0, LIMIT), "nothing to refer to yet");
        assertEquals(DedupCodec.PAYLOAD_BYTES, codec.encode(5, direct(a), 0, out, 0, LIMIT));
        ByteBuffer payload = out.duplicate().position(0).limit(DedupCodec.PAYLOAD_BYTES);
        assertEquals(102, PageDecoder.basePage(105, PageEncoding.DEDUP, payload), "the page of key 2");
        new DedupCodec(PAGE).decode(105, payload, direct(a));
        assertThrows(CorruptPageException.class,
                () -> new DedupCodec(PAGE).decode(105, payload, direct(PageSets.random(2))), "other content");
    }

    @Test
    void aForgottenPageIsNoLongerReferencedAndASentOneIs() {
        byte[] a = PageSets.text(1);
        codec.encode(2, direct(a), 0, out, 0, LIMIT);
        codec.forget(2);
        assertEquals(PageCodec.DECLINED, codec.encode(5, direct(a), 0, out, 0, LIMIT), "key 2 forgotten");
        byte[] b = PageSets.text(2);
        codec.sent(7, direct(b), 0);
        assertEquals(DedupCodec.PAYLOAD_BYTES, codec.encode(8, direct(b), 0, out, 0, LIMIT), "key 7 was sent");
        assertEquals(107, DedupCodec.referencedPage(108, out.duplicate().position(0).limit(DedupCodec.PAYLOAD_BYTES)));
    }

    @Test
    void aReferenceOfTheWrongLengthIsRefused() {
        for (int length : new int[] {0, DedupCodec.PAYLOAD_BYTES - 1, DedupCodec.PAYLOAD_BYTES + 1}) {
            ByteBuffer payload = ByteBuffer.allocate(length);
            assertThrows(CorruptPageException.class,
                    () -> codec.decode(1, payload, direct(PageSets.text(1))), "length " + length);
            assertThrows(CorruptPageException.class, () -> DedupCodec.referencedPage(1, payload), "length " + length);
        }
    }

    @Test
    void aReferenceToANegativePageIsRefusedBeforeAnythingIsRead() {
        ByteBuffer payload = ByteBuffer.allocateDirect(DedupCodec.PAYLOAD_BYTES);
        DedupCodec.writeReference(payload, 0, -1, new long[] {0, 0});
        CorruptPageException e = assertThrows(CorruptPageException.class,
                () -> PageDecoder.basePage(3, PageEncoding.DEDUP, payload));
        assertTrue(e.getMessage().contains("18446744073709551615"), e.getMessage());
        assertEquals(-1, DedupCodec.referencedPage(payload, 0), "the unchecked field, as a signed long");
    }

    @Test
    void theReferencedPageReadsTheSameInEitherByteOrder() {
        ByteBuffer payload = ByteBuffer.allocate(8 + DedupCodec.PAYLOAD_BYTES);
        DedupCodec.writeReference(payload, 8, 0x0102030405L, new long[] {1, 2});
        assertEquals(0x0102030405L, DedupCodec.referencedPage(payload, 8));
        assertEquals(0x0102030405L, DedupCodec.referencedPage(payload.duplicate().order(ByteOrder.LITTLE_ENDIAN), 8));
    }
}
