import PDFDocument from 'pdfkit';
import type { Readable } from 'node:stream';
import type {
  ProfileSummaryHeader,
  SummaryContact,
} from './pdf-render.protocol';

export interface ProfileSummaryInput extends ProfileSummaryHeader {
  /** Pages of contacts, fetched as the PDF is written (never all at once). */
  contactPages: AsyncIterable<SummaryContact[]>;
}

const PROFILE_LABELS: Record<string, string> = {
  fullName: 'Full name',
  dateOfBirth: 'Date of birth',
  phone: 'Phone',
  address: 'Address',
  nationalId: 'National ID',
};

/**
 * Renders the profile summary with pdfkit and returns the PDF as a stream: pages are emitted as
 * they are written, so neither the contacts nor the document are ever held whole in memory.
 * Synchronous JavaScript between contact pages: it runs in a worker thread
 * (`profile-summary.worker.ts`), never on the main event loop.
 */
export function renderProfileSummary(input: ProfileSummaryInput): Readable {
  const pdf = new PDFDocument({
    size: 'A4',
    margin: 50,
    info: { Title: 'Profile summary', Producer: 'vault-pii-backend' },
  });
  void (async () => {
    try {
      pdf.fontSize(20).text('Profile summary');
      pdf
        .moveDown(0.5)
        .fontSize(10)
        .fillColor('#555')
        .text(`Generated ${input.generatedAt.toISOString()}`)
        .fillColor('#000');
      pdf.moveDown().fontSize(12).text(`Account: ${input.email}`);
      pdf.moveDown();
      for (const [field, label] of Object.entries(PROFILE_LABELS)) {
        pdf.fontSize(12).text(`${label}: ${input.profile[field] ?? '—'}`);
      }
      pdf.moveDown().fontSize(16).text('Contacts');
      let count = 0;
      for await (const page of input.contactPages) {
        for (const contact of page) {
          count++;
          pdf.moveDown(0.4).fontSize(11).text(contact.fullName);
          const details = [contact.email, contact.phone, contact.address]
            .filter(Boolean)
            .join(' · ');
          if (details)
            pdf.fontSize(9).fillColor('#333').text(details).fillColor('#000');
        }
      }
      if (count === 0) pdf.fontSize(11).text('No contacts.');
      pdf.end();
    } catch (error) {
      pdf.destroy(error as Error);
    }
  })();
  return pdf;
}
