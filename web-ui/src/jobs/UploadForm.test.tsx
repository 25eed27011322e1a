import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UploadForm } from './UploadForm';
import { fakeServer, jsonResponse, mp4File } from '../test/fakeJobsServer';

afterEach(() => {
  vi.unstubAllGlobals();
});

async function ready(onSubmitted = vi.fn()) {
  render(<UploadForm onSubmitted={onSubmitted} />);
  const select = screen.getByTestId<HTMLSelectElement>('upload-pipeline');
  await within(select).findByRole('option', { name: 'OCR (ocr)' });
  return { select, onSubmitted };
}

function chooseFile(file: File) {
  fireEvent.change(screen.getByTestId('upload-file'), { target: { files: [file] } });
}

function submitted(server: ReturnType<typeof fakeServer>): FormData {
  const call = server.state.calls.find((c) => c.method === 'POST' && c.url === '/v1/video/submit');
  if (!call) throw new Error('nothing was submitted');
  return call.body as FormData;
}

describe('UploadForm', () => {
  it('uploads the chosen file with the pipeline and options and reports the new job id', async () => {
    const server = fakeServer();
    const { select, onSubmitted } = await ready();
    const submit = screen.getByTestId<HTMLButtonElement>('upload-submit');
    expect(select.value).toBe('yolo');
    expect(submit.disabled).toBe(true); // no file yet

    chooseFile(mp4File('street.mp4'));
    fireEvent.change(select, { target: { value: 'ocr' } });
    fireEvent.change(screen.getByTestId('upload-frame-stride'), { target: { value: '10' } });
    fireEvent.change(screen.getByTestId('upload-max-frames'), { target: { value: '3' } });
    expect(submit.disabled).toBe(false);
    fireEvent.click(submit);

    await waitFor(() => {
      expect(onSubmitted).toHaveBeenCalledWith('job-1');
    });
    const form = submitted(server);
    expect(form.get('pipeline_id')).toBe('ocr');
    expect(form.get('frame_stride')).toBe('10');
    expect(form.get('max_frames')).toBe('3');
    expect((form.get('file') as File).name).toBe('street.mp4');
    expect(screen.getByTestId('upload-notice').textContent).toContain('street.mp4');
    // The file input is cleared for the next upload.
    expect(submit.disabled).toBe(true);
  });

  it('omits empty options so the server applies its defaults', async () => {
    const server = fakeServer();
    const { onSubmitted } = await ready();
    chooseFile(mp4File());
    fireEvent.click(screen.getByTestId('upload-submit'));
    await waitFor(() => {
      expect(onSubmitted).toHaveBeenCalled();
    });
    expect([...submitted(server).keys()]).toEqual(['pipeline_id', 'file']);
  });

  it('refuses a frame stride that is not a positive whole number, without calling the server', async () => {
    const server = fakeServer();
    await ready();
    chooseFile(mp4File());
    fireEvent.change(screen.getByTestId('upload-frame-stride'), { target: { value: '0' } });
    expect(screen.getByTestId('upload-invalid').textContent).toContain('whole numbers');
    const submit = screen.getByTestId<HTMLButtonElement>('upload-submit');
    expect(submit.disabled).toBe(true);
    fireEvent.submit(screen.getByTestId('upload-form'));
    expect(server.callsTo('POST', '/v1/video/submit')).toBe(0);
  });

  it('shows "Invalid MP4 file" from the server as a friendly error', async () => {
    const server = fakeServer();
    server.state.routes.set('POST /v1/video/submit', () =>
      jsonResponse({ error: 'invalid_mp4', detail: 'Invalid MP4 file' }, 400),
    );
    const { onSubmitted } = await ready();
    chooseFile(new File(['not a video'], 'notes.mp4', { type: 'video/mp4' }));
    fireEvent.click(screen.getByTestId('upload-submit'));
    const alert = await screen.findByRole('alert');
    expect(alert.dataset.errorCode).toBe('invalid_mp4');
    expect(alert.textContent).toContain('Not an MP4 video');
    expect(alert.textContent).toContain('Invalid MP4 file');
    expect(onSubmitted).not.toHaveBeenCalled();
    // The file stays chosen, so the user can fix the options and retry; Dismiss hides the error.
    expect(screen.getByTestId<HTMLButtonElement>('upload-submit').disabled).toBe(false);
    fireEvent.click(within(alert).getByRole('button', { name: 'Dismiss' }));
    expect(screen.queryByRole('alert')).toBeNull();
  });

  it('shows a 413 as "File too large" with the server detail', async () => {
    const server = fakeServer();
    server.state.routes.set('POST /v1/video/submit', () =>
      jsonResponse({ error: 'upload_too_large', detail: 'Upload larger than 500 MB' }, 413),
    );
    await ready();
    chooseFile(mp4File('huge.mp4'));
    fireEvent.click(screen.getByTestId('upload-submit'));
    const alert = await screen.findByTestId('upload-error');
    expect(alert.textContent).toContain('File too large');
    expect(alert.textContent).toContain('Upload larger than 500 MB');
  });

  it('disables the form and says "Uploading…" while the upload is in flight', async () => {
    const server = fakeServer();
    let answer: (r: Response) => void = () => undefined;
    server.state.routes.set('POST /v1/video/submit', () => new Promise<Response>((ok) => (answer = ok)));
    const { onSubmitted } = await ready();
    chooseFile(mp4File());
    fireEvent.click(screen.getByTestId('upload-submit'));
    const submit = screen.getByTestId<HTMLButtonElement>('upload-submit');
    await waitFor(() => {
      expect(submit.textContent).toBe('Uploading…');
    });
    expect(submit.disabled).toBe(true);
    expect(screen.getByTestId<HTMLInputElement>('upload-file').disabled).toBe(true);
    answer(jsonResponse({ job_id: 'x' }, 202));
    await waitFor(() => {
      expect(onSubmitted).toHaveBeenCalledWith('x');
    });
    expect(submit.textContent).toBe('Upload');
  });
});
