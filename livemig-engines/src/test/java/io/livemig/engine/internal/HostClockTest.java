package io.livemig.engine.internal;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class HostClockTest {

    private static final byte[] SESSION = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

    @Test
    void oneHostsTokenMatchesForOneMigrationAndNotForAnother() {
        assumeTrue(Files.isReadable(Path.of("/proc/sys/kernel/random/boot_id")), "no boot id on this host");
        byte[] a = HostClock.token(SESSION, true);
        assertEquals(HostClock.TOKEN_BYTES, a.length);
        assertArrayEquals(a, HostClock.token(SESSION, true));
        assertTrue(HostClock.sameClock(a, HostClock.token(SESSION, true)));
        byte[] other = SESSION.clone();
        other[0] = 9;
        assertFalse(HostClock.sameClock(a, HostClock.token(other, true)), "the token differs per migration");
    }

    @Test
    void aVirtualClockOrAZeroTokenMatchesNothing() {
        byte[] zero = new byte[HostClock.TOKEN_BYTES];
        assertArrayEquals(zero, HostClock.token(SESSION, false));
        assertFalse(HostClock.sameClock(zero, zero));
        assertFalse(HostClock.sameClock(HostClock.token(SESSION, true), zero));
    }
}
