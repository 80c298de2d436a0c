package io.livemig.compress;

import org.junit.jupiter.api.Test;

import static io.livemig.compress.PageSets.PAGE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PageEncodingTest {

    @Test
    void eachEncodingAcceptsOnlyThePayloadLengthsItCanHave() {
        assertTrue(PageEncoding.ZERO.acceptsPayloadLength(0, PAGE));
        assertFalse(PageEncoding.ZERO.acceptsPayloadLength(1, PAGE));
        assertTrue(PageEncoding.RAW.acceptsPayloadLength(PAGE, PAGE));
        assertFalse(PageEncoding.RAW.acceptsPayloadLength(PAGE - 1, PAGE));
        assertFalse(PageEncoding.RAW.acceptsPayloadLength(PAGE + 1, PAGE));
        assertTrue(PageEncoding.DEDUP.acceptsPayloadLength(DedupCodec.PAYLOAD_BYTES, PAGE));
        assertFalse(PageEncoding.DEDUP.acceptsPayloadLength(DedupCodec.PAYLOAD_BYTES + 1, PAGE));
        for (PageEncoding e : new PageEncoding[] {PageEncoding.XBZRLE, PageEncoding.LZ4, PageEncoding.ZSTD}) {
            assertFalse(e.acceptsPayloadLength(0, PAGE), e + " of nothing");
            assertTrue(e.acceptsPayloadLength(1, PAGE), e.toString());
            assertTrue(e.acceptsPayloadLength(PAGE, PAGE), e.toString());
            assertFalse(e.acceptsPayloadLength(PAGE + 1, PAGE), e + " longer than a page");
            assertFalse(e.acceptsPayloadLength(1L << 40, PAGE), e.toString());
        }
    }

    @Test
    void wireIdentifiersAreFixedAndZeroIsReserved() {
        assertNull(PageEncoding.fromWireId(0));
        assertNull(PageEncoding.fromWireId(7));
        int id = 1;
        for (PageEncoding e : new PageEncoding[] {PageEncoding.ZERO, PageEncoding.RAW, PageEncoding.XBZRLE,
                PageEncoding.LZ4, PageEncoding.ZSTD, PageEncoding.DEDUP}) {
            assertEquals(id++, e.wireId(), e.toString());
            assertEquals(e, PageEncoding.fromWireId(e.wireId()));
            assertEquals(e, PageEncoding.fromReportName(e.reportName().toUpperCase()));
        }
    }
}
