import type Redis from 'ioredis';

/** QUIT when connected (pending replies arrive first), otherwise drop the socket at once. */
export async function closeRedisConnection(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through: drop the connection
    }
  }
  client.disconnect();
}
