package io.livemig.engine;

import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VmDescriptor;

import java.io.IOException;

/**
 * Creates the destination VM once the source has announced its shape. Called at most once per
 * migration, on the receiving thread; the target it returns is owned by the migration until it
 * resumes, then by the caller of {@link LiveMigration#receive}.
 */
@FunctionalInterface
public interface TargetFactory {

    /**
     * {@return a paused target with exactly that layout and zeroed memory}
     *
     * @param descriptor the layout, vCPUs and devices the source announced
     * @throws IOException              if the VM cannot be created
     * @throws IllegalArgumentException if the descriptor cannot be honoured
     */
    MigrationTarget create(VmDescriptor descriptor) throws IOException;
}
