/**
 * A contact with every field near its maximum (docs/limits.md#fields), in words so that lines
 * wrap when drawn: the heaviest address book a document can render (document storm test and bench).
 */
export function largeContact(i: number) {
  const words = (total: number) =>
    Array.from({ length: Math.ceil(total / 10) }, (_, n) =>
      `w${i}x${n}`.padEnd(9, 'z'),
    )
      .join(' ')
      .slice(0, total);
  return {
    fullName: words(200),
    email: `${'a'.repeat(60)}${i}@${'b'.repeat(63)}.${'c'.repeat(63)}.org`,
    phone: `+44 ${String(i).padStart(6, '0')} 000 000 000 000 000 0`,
    address: words(500),
    notes: words(2000),
  };
}
