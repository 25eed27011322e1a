import { useRef, useState, type SyntheticEvent } from 'react';
import { PipelineSelector } from '../components/PipelineSelector';
import { usePipelines } from '../components/usePipelines';
import { describeJobsError, parseOptionalPositiveInt, submitJob } from './api';

export interface UploadFormProps {
  /** Called with the new job's id after the server accepted the upload. */
  onSubmitted: (jobId: string) => void;
}

interface FormError {
  title: string;
  message: string;
  detail: string;
  code: string;
}

function preferredPipeline(ids: string[]): string | null {
  return ids.includes('yolo') ? 'yolo' : (ids[0] ?? null);
}

/** MP4 upload: file, pipeline, optional frame stride and max frames → POST /v1/video/submit. */
export function UploadForm({ onSubmitted }: UploadFormProps) {
  const { pipelines, loading, error: listError } = usePipelines();
  const [chosen, setChosen] = useState<string | null>(null);
  const [file, setFile] = useState<File | null>(null);
  const [stride, setStride] = useState('');
  const [maxFrames, setMaxFrames] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<FormError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const pipelineId = chosen ?? preferredPipeline(pipelines.map((p) => p.id));

  const strideValue = parseOptionalPositiveInt(stride);
  const maxFramesValue = parseOptionalPositiveInt(maxFrames);
  const invalid = strideValue === undefined || maxFramesValue === undefined;

  const submit = async (e: SyntheticEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (!file || pipelineId === null || invalid || busy) return;
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      const jobId = await submitJob({ file, pipelineId, frameStride: strideValue, maxFrames: maxFramesValue });
      setNotice(`Uploaded ${file.name}.`);
      setFile(null);
      if (fileInput.current) fileInput.current.value = '';
      onSubmitted(jobId);
    } catch (err) {
      setError(describeJobsError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="toolbar upload-form"
      data-testid="upload-form"
      aria-label="Upload an MP4"
      onSubmit={(e) => {
        void submit(e);
      }}
    >
      <label className="field">
        Video
        <input
          ref={fileInput}
          type="file"
          accept="video/mp4,.mp4"
          data-testid="upload-file"
          disabled={busy}
          onChange={(e) => {
            setFile(e.target.files?.[0] ?? null);
            setError(null);
            setNotice(null);
          }}
        />
      </label>
      <PipelineSelector
        pipelines={pipelines}
        value={pipelineId}
        onChange={setChosen}
        loading={loading}
        error={listError}
        testId="upload-pipeline"
      />
      <PositiveIntField
        label="Frame stride"
        placeholder="1"
        value={stride}
        invalid={strideValue === undefined}
        testId="upload-frame-stride"
        onChange={setStride}
      />
      <PositiveIntField
        label="Max frames"
        placeholder="all"
        value={maxFrames}
        invalid={maxFramesValue === undefined}
        testId="upload-max-frames"
        onChange={setMaxFrames}
      />
      <button
        type="submit"
        className="primary"
        disabled={!file || pipelineId === null || invalid || busy}
        data-testid="upload-submit"
      >
        {busy ? 'Uploading…' : 'Upload'}
      </button>
      {invalid && (
        <span className="field-error" role="status" data-testid="upload-invalid">
          Frame stride and max frames must be whole numbers of 1 or more.
        </span>
      )}
      {notice && !error && (
        <span className="muted" role="status" data-testid="upload-notice">
          {notice}
        </span>
      )}
      {error && (
        <div className="banner upload-error" role="alert" data-testid="upload-error" data-error-code={error.code}>
          <div className="banner-text">
            <strong>{error.title}</strong>
            <span>{error.message}</span>
            {error.detail && <span className="banner-detail">{error.detail}</span>}
          </div>
          <div className="banner-actions">
            <button
              type="button"
              className="ghost"
              aria-label="Dismiss"
              onClick={() => {
                setError(null);
              }}
            >
              ×
            </button>
          </div>
        </div>
      )}
    </form>
  );
}

interface PositiveIntFieldProps {
  label: string;
  placeholder: string;
  value: string;
  invalid: boolean;
  testId: string;
  onChange: (value: string) => void;
}

/** An optional whole-number input (empty means the server's default). */
function PositiveIntField({ label, placeholder, value, invalid, testId, onChange }: PositiveIntFieldProps) {
  return (
    <label className="field">
      {label}
      <input
        className="number-input"
        type="number"
        min={1}
        step={1}
        inputMode="numeric"
        placeholder={placeholder}
        value={value}
        data-testid={testId}
        aria-invalid={invalid}
        onChange={(e) => {
          onChange(e.target.value);
        }}
      />
    </label>
  );
}
