/**
 * One ORM bench operation of one variant in a loop, to profile it:
 *
 *   DATABASE_URL=… node --cpu-prof --cpu-prof-dir=/tmp/prof -r ts-node/register/transpile-only \
 *     bench/orm/orm.profile.ts ours find1000 [seconds]
 *   node -r ts-node/register/transpile-only bench/http/support/cpu-profile-summary.ts /tmp/prof/*.cpuprofile 25 '' 3000
 *
 * Variants: plaintext, ours, oursGcm, peer. Operations: insert, find1000, findOne, update.
 */
import { openBenchContext } from '../support/bench-context';
import { ensurePeerInstalled } from './peer-typeorm-encrypted';
import {
  insertAll,
  openOrmVariants,
  ROWS_PER_OWNER,
  VariantName,
} from './orm.bench';

async function main(): Promise<void> {
  const [variantName = 'ours', operation = 'find1000', seconds = '15'] =
    process.argv.slice(2);
  const context = await openBenchContext(false);
  ensurePeerInstalled(context.progress);
  const { close, variants, newOwners } = await openOrmVariants(
    await context.createDatabase('bench_orm_profile'),
  );
  try {
    const variant = variants[variantName as VariantName];
    if (!variant) throw new Error(`unknown variant ${variantName}`);
    const owners = await newOwners(2 * ROWS_PER_OWNER);
    const saved = await insertAll(variant, owners);
    const deadline = Date.now() + Number(seconds) * 1000;
    let rows = 0;
    const start = Date.now();
    while (Date.now() < deadline) {
      if (operation === 'insert') {
        rows += (await insertAll(variant, await newOwners(ROWS_PER_OWNER)))
          .length;
      } else if (operation === 'find1000') {
        const owner = owners[rows % owners.length];
        rows += (
          await variant.asOwner(owner, () =>
            variant.repository.find({ where: { ownerId: owner.id } }),
          )
        ).length;
      } else if (operation === 'findOne' || operation === 'update') {
        const { id, owner } = saved[rows % saved.length];
        await variant.asOwner(owner, async () => {
          const row = await variant.repository.findOneByOrFail({ id });
          if (operation === 'update') {
            row.notes = `${row.notes ?? ''}!`;
            await variant.repository.save(row);
          }
        });
        rows++;
      } else throw new Error(`unknown operation ${operation}`);
    }
    process.stderr.write(
      `${variantName} ${operation}: ${((rows * 1000) / (Date.now() - start)).toFixed(0)} rows/s\n`,
    );
  } finally {
    await close();
    await context.close();
  }
}

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exit(1);
});
