package io.livemig.examples.cli;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SizeAndDurationArgsTest {

    @Test
    void sizesTakeKubernetesStyleBinarySuffixesBesideTheShortOnes() {
        assertEquals(64L << 20, SizeArg.parse("64Mi").bytes());
        assertEquals(64L << 20, SizeArg.parse("64M").bytes());
        assertEquals(64L << 20, SizeArg.parse("64MiB").bytes());
        assertEquals(1L << 30, SizeArg.parse("1Gi").bytes());
        assertEquals(1L << 30, SizeArg.parse("1G").bytes());
        assertEquals(512L << 10, SizeArg.parse("512Ki").bytes());
        assertEquals(2L << 40, SizeArg.parse("2Ti").bytes());
        assertEquals(4096, SizeArg.parse("4096").bytes());
        assertEquals(50L << 20, SizeArg.parse("50Mi/s").bytes());
        assertEquals(0, SizeArg.parse("0").bytes());
    }

    @Test
    void garbageAndNegativeSizesAreRefusedWithAMessageThatQuotesThem() {
        IllegalArgumentException garbage = assertThrows(IllegalArgumentException.class, () -> SizeArg.parse("lots"));
        assertTrue(garbage.getMessage().contains("'lots'"), garbage.getMessage());
        IllegalArgumentException negative = assertThrows(IllegalArgumentException.class, () -> SizeArg.parse("-5M"));
        assertTrue(negative.getMessage().contains("negative"), negative.getMessage());
        assertThrows(IllegalArgumentException.class, () -> SizeArg.parse("64Xi"));
        assertThrows(IllegalArgumentException.class, () -> SizeArg.parse("i"));
        assertThrows(IllegalArgumentException.class, () -> SizeArg.parse("99999999999T"));
    }

    @Test
    void durationsTakeCompoundAndFractionalForms() {
        assertEquals(Duration.ofSeconds(90), Durations.parse("1m30s"));
        assertEquals(Duration.ofHours(1), Durations.parse("1h"));
        assertEquals(Duration.ofMinutes(90), Durations.parse("1h30m"));
        assertEquals(Duration.ofMillis(250), Durations.parse("250ms"));
        assertEquals(Duration.ofSeconds(2), Durations.parse("2s"));
        assertEquals(Duration.ofMillis(1500), Durations.parse("1.5s"));
        assertEquals(Duration.ofNanos(500_000), Durations.parse("500us"));
        assertEquals(Duration.ofMillis(1001), Durations.parse("1s1ms"));
        assertEquals(Duration.ofMillis(300), Durations.parse("300"));
        assertEquals(Duration.ofSeconds(1), Durations.parse("PT1S"));
        assertEquals(Duration.ofMinutes(2), Durations.parse(" 2M "));
        assertEquals(Duration.ofSeconds(2), Durations.parse("2 s"));
    }

    @Test
    void garbageAndNegativeDurationsAreRefused() {
        IllegalArgumentException negative = assertThrows(IllegalArgumentException.class, () -> Durations.parse("-5ms"));
        assertTrue(negative.getMessage().contains("negative"), negative.getMessage());
        for (String bad : new String[] {"soon", "5x", "1m30", "ms", "1.s", "PT-1S", ""}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Durations.parse(bad), bad);
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
    }
}
