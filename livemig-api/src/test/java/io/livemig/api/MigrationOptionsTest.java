package io.livemig.api;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MigrationOptionsTest {

    @Test
    void defaultsAreQemuLike() {
        MigrationOptions o = MigrationOptions.defaults();
        assertEquals(Duration.ofMillis(300), o.downtimeLimit());
        assertEquals(0, o.bandwidthLimitBytesPerSecond());
        assertTrue(o.verify());
        assertTrue(o.maxTotalTime().isEmpty());
    }

    @Test
    void toBuilderMakesAnIndependentVariant() {
        MigrationOptions a = MigrationOptions.builder().downtimeLimit(Duration.ofMillis(50)).build();
        MigrationOptions b = a.toBuilder().verify(false).build();
        assertEquals(Duration.ofMillis(50), b.downtimeLimit());
        assertFalse(b.verify());
        assertTrue(a.verify());
    }

    @Test
    void thePostcopyCapFollowsTheLiveCopysCapUnlessSetApart() {
        MigrationOptions capped = MigrationOptions.builder().bandwidthLimitBytesPerSecond(100L << 20).build();
        assertEquals(100L << 20, capped.postcopyBandwidthLimitBytesPerSecond());
        MigrationOptions uncapped = capped.toBuilder().postcopyBandwidthLimitBytesPerSecond(0).build();
        assertEquals(0, uncapped.postcopyBandwidthLimitBytesPerSecond());
        assertEquals(100L << 20, uncapped.bandwidthLimitBytesPerSecond());
        assertEquals(0, uncapped.toBuilder().bandwidthLimitBytesPerSecond(5).build()
                .postcopyBandwidthLimitBytesPerSecond(), "set apart, it stays apart");
        assertThrows(IllegalArgumentException.class,
                () -> MigrationOptions.builder().postcopyBandwidthLimitBytesPerSecond(-1));
    }

    @Test
    void badValuesFailAtOnce() {
        MigrationOptions.Builder b = MigrationOptions.builder();
        assertThrows(IllegalArgumentException.class, () -> b.downtimeLimit(Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> b.bandwidthLimitBytesPerSecond(-1));
        assertThrows(IllegalArgumentException.class, () -> b.maxRounds(0));
        assertThrows(IllegalArgumentException.class, () -> b.batchPages(0));
        assertThrows(NullPointerException.class, () -> b.strategy(null));
    }

    @Test
    void byteSizesUseBinarySuffixes() {
        assertEquals(1L << 30, ByteSize.parse("1G").bytes());
        assertEquals(100L << 20, ByteSize.parse("100M").bytes());
        assertEquals(50L << 20, ByteSize.parse("50MiB/s").bytes());
        assertEquals(4096, ByteSize.parse("4096").bytes());
        assertEquals("512M", new ByteSize(512L << 20).toString());
        assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("lots"));
        assertThrows(IllegalArgumentException.class, () -> ByteSize.parse("99999999999T"));
    }

    @Test
    void exceptionsSayWhereTheVmIs() {
        MigrationException e = new ChannelException("link down", MigrationPhase.LIVE_COPY, SourceVmState.RUNNING, null);
        assertTrue(e.sourceRunning());
        MigrationException moved = e.withSourceState(SourceVmState.PAUSED);
        assertTrue(moved instanceof ChannelException);
        assertEquals(SourceVmState.PAUSED, moved.sourceState());
        assertTrue(moved.getMessage().contains("source VM PAUSED"));
        ProtocolException p = new ProtocolException(ProtocolException.Kind.TRUNCATED, "short", MigrationPhase.HANDSHAKE,
                SourceVmState.UNKNOWN).withSourceState(SourceVmState.RUNNING);
        assertEquals(ProtocolException.Kind.TRUNCATED, p.kind());
        assertEquals("TRUNCATED: short", p.reason());
    }
}
