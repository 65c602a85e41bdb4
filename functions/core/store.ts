/** Where the zones live: a local directory or an S3 bucket, behind one small port. */
export interface ObjectStore {
  /**
   * Makes an object's bytes available as a local file and returns its path:
   * `scratch` is a directory the adapter may download into.
   */
  fetch(key: string, scratch: string): Promise<string>;
  /** Stores a local file under a key, replacing whatever was there; readers never see a partial object. */
  put(key: string, file: string): Promise<void>;
}
