package io.livemig.disk.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host's boot id, which tells whether the host has rebooted since a change log was opened:
 * Linux draws a new random {@code /proc/sys/kernel/random/boot_id} at every boot.
 */
public final class BootId {

    private static final Logger LOG = LoggerFactory.getLogger(BootId.class);
    private static final Path BOOT_ID = Path.of("/proc/sys/kernel/random/boot_id");

    private BootId() {
    }

    /**
     * @return the current boot id, or an empty string if it cannot be read (not Linux, no
     *         {@code /proc}); a log not closed cleanly is then never trusted
     */
    public static String current() {
        try {
            String id = Files.readString(BOOT_ID, StandardCharsets.US_ASCII).strip();
            if (id.length() <= SidecarHeader.MAX_BOOT_ID_LENGTH && id.chars().allMatch(c -> c >= 0x20 && c <= 0x7E)) {
                return id;
            }
            LOG.warn("Ignoring the malformed boot id in {}: a change log not closed cleanly will not be trusted", BOOT_ID);
        } catch (IOException | RuntimeException e) {
            LOG.warn("Cannot read {} ({}): a change log not closed cleanly will not be trusted", BOOT_ID, e.toString());
        }
        return "";
    }
}
